"""Headline figures for the summary table that `make bench` and `make bench-quick` print (bench/_table.py).

Each bench calls `figure(...)` next to the line where it prints a headline figure and its verdict. When the
environment variable VIGIL_BENCH_REPORT names a file, one JSON line is appended to it; otherwise nothing
happens, so a bench run by hand prints exactly what it printed before.

    figure("ratio ingest / bare", 0.62, "≥ 0.5", 0.62 >= 0.5)
    figure("p95 latency", 84.0, "< 150 ms", True, unit="ms")
    figure("alerts accepted", 1234.0, None, None, unit="alerts/s")   # shown for reference, no target

`met` is True or False against the target, or None for a figure without one. The bench's name and
whether it ran with `--quick` are read from the command line.
"""

import json
import os
import sys
from pathlib import Path

REPORT_ENV = "VIGIL_BENCH_REPORT"


def figure(name: str, value, target: str | None, met: bool | None, unit: str = "") -> None:
    """Append one figure to the report file named by VIGIL_BENCH_REPORT, if any."""
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    record = {
        "bench": Path(sys.argv[0]).stem,
        "quick": "--quick" in sys.argv,
        "figure": name,
        "value": value if isinstance(value, (int, str)) else round(float(value), 4),
        "unit": unit,
        "target": target,
        "met": None if met is None else bool(met),
    }
    # One short write in append mode: lines from benches run one after another never interleave.
    with open(path, "a", encoding="utf-8") as report:
        report.write(json.dumps(record, ensure_ascii=False) + "\n")
