"""Print the one summary table of a bench run from the figures the benches reported (bench/_report.py).

    .venv/bin/python bench/_table.py REPORT.jsonl [--quick]

One row per headline figure: bench, figure, value, target, verdict. Full mode judges every figure that has
a target: "ok" or "MISSED". Quick mode (CI: small sizes, a few seconds each, on a shared machine) judges
nothing — sizes too small for a scaling ratio to mean anything — and reads "not judged", with what the
verdict would have been in parentheses so a drift is visible. A bench under bench/ that reported no figure
at all (it crashed, or lost its `figure(...)` calls) gets a row saying so.

Exit status: 1 when a bench reported nothing, or in full mode when a target was missed; otherwise 0.
"""

import json
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def benches() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("[!_]*.py"))


def read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def show_value(value, unit: str) -> str:
    if isinstance(value, (bool, str)):
        text = str(value).lower() if isinstance(value, bool) else value
    elif isinstance(value, int):
        text = f"{value:,}".replace(",", " ")
    elif abs(value) >= 100:
        text = f"{value:,.0f}".replace(",", " ")
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def verdict(record: dict, quick: bool) -> str:
    met = record.get("met")
    if met is None:
        return "—"
    if quick:
        return f"not judged ({'would be ok' if met else 'would miss'})"
    return "ok" if met else "MISSED"


def render(records: list[dict], *, quick: bool) -> tuple[str, int]:
    rows = [
        (r["bench"], r["figure"], show_value(r["value"], r.get("unit", "")), r.get("target") or "—", verdict(r, quick))
        for r in records
    ]
    reported = {r["bench"] for r in records}
    silent = [name for name in benches() if name not in reported]
    rows += [(name, "(no figure reported: the bench failed before its verdict)", "—", "—", "FAILED") for name in silent]
    header = ("bench", "figure", "value", "target", "verdict")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, tuple("-" * w for w in widths), *rows]
    ]
    judged = [r for r in records if r.get("met") is not None]
    missed = [r for r in judged if not r["met"]]
    if quick:
        summary = (
            f"quick mode: {len(records)} figures from {len(reported)} benches; small sizes on a shared machine, "
            f"so no verdict is judged ({len(judged) - len(missed)} of {len(judged)} would meet their target)"
        )
    else:
        met = len(judged) - len(missed)
        summary = f"{len(records)} figures from {len(reported)} benches: {met} of {len(judged)} targets met"
    if silent:
        summary += f"; {len(silent)} bench(es) reported nothing: {', '.join(silent)}"
    failed = 1 if silent or (missed and not quick) else 0
    return "\n".join([*lines, "", summary]), failed


def main() -> int:
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    quick = "--quick" in sys.argv[2:]
    table, failed = render(read(Path(sys.argv[1])), quick=quick)
    title = "Benchmarks, quick mode (make bench-quick)" if quick else "Benchmarks (make bench)"
    print(f"\n== {title}\n\n{table}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
