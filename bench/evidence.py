"""Evidence export streams, and audit_verify keeps up with hashing.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/evidence.py [--quick]

Creates (and drops afterwards) the scratch database `vigil_bench_evidence`, fills audit events by
INSERT … SELECT in the shape `audit_record` writes, seals them into the chain, then:

1. export: `manage.py export_evidence` in a child process at SMALL and at LARGE events (100 000 and
   1 000 000; `--quick`: 2 000 and 20 000), printing rows/s and the child's peak memory; target: peak at
   LARGE ≤ 1.2 × peak at SMALL (the export streams).
2. verify: `audit_verify` over the whole chain against bare SHA-256 over the same canonical bytes, built
   beforehand in memory (and against reading + canonicalising + hashing the rows, the least any
   verifier does); target: verify ≥ 1/3 of bare. Also the floor under any verifier that reads the chain
   from PostgreSQL: the seals joined to their events streamed by COPY (binary) and thrown away — no
   parsing, no canonical form, no hashing — as a ratio of bare SHA-256 too.
"""

import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import figure  # noqa: E402
from bench._scratch import drop_database, scratch_database  # noqa: E402

BENCH_DB = "vigil_bench_evidence"
QUICK = "--quick" in sys.argv
SMALL, LARGE = (2_000, 20_000) if QUICK else (100_000, 1_000_000)


def fill_audit(total: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM governance_auditevent")
        start = cursor.fetchone()[0] + 1
        cursor.execute(
            """
            INSERT INTO governance_auditevent (
                occurred_at, actor_label, action, object_type, object_id, object_repr, changes, request_id
            )
            SELECT now() - (%(total)s - n) * interval '10 milliseconds',
                   (ARRAY['alice', 'bob', 'system', 'api-key:ci'])[1 + n %% 4],
                   (ARRAY['incident.declare', 'incident.acknowledge', 'update'])[1 + n %% 3],
                   'incidents.incident', n::text, 'INC-' || n,
                   jsonb_build_object('status', jsonb_build_array('declared', 'acknowledged')), md5(n::text)
            FROM generate_series(%(start)s, %(total)s) AS n
            """,
            {"start": start, "total": total},
        )


def read_floor_seconds() -> float:
    """Seconds to stream every link with its event out of PostgreSQL and discard it (COPY, binary)."""
    from django.db import connection

    query = (
        "COPY (SELECT s.seq, s.prev_hash, s.hash, e.* FROM governance_auditseal s "
        "JOIN governance_auditevent e ON e.id = s.event_id ORDER BY s.seq) TO STDOUT (FORMAT binary)"
    )
    with connection.cursor() as cursor:
        started = time.perf_counter()
        with cursor.cursor.copy(query) as copy:
            for _block in copy:
                pass
        return time.perf_counter() - started


def export(url: str, out: Path) -> tuple[float, float, int]:
    """(seconds, peak MB, rows) of `export_evidence` for today in a child process."""
    today = time.strftime("%Y-%m-%d", time.gmtime())
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "manage.py", "export_evidence", "--from", today, "--to", today, "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    line = result.stdout.strip().splitlines()[-1]
    peak = float(re.search(r"peak memory (\d+) MB", line).group(1))
    rows = int(re.search(r"(\d+) rows\)", line).group(1))
    return seconds, peak, rows


def main() -> int:
    url = scratch_database(BENCH_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from governance.chain import audit_seal_all, audit_verify, canonical_event
    from governance.models import AuditEvent, AuditSeal

    try:
        call_command("migrate", verbosity=0)
        out = ROOT / "var" / "bench-evidence.zip"
        out.parent.mkdir(exist_ok=True)
        exports = {}
        for size in (SMALL, LARGE):
            fill_audit(size)
            started = time.perf_counter()
            sealed = audit_seal_all()
            print(f"{size:>9} events: sealed {sealed} in {time.perf_counter() - started:.1f} s")
            seconds, peak, rows = export(url, out)
            exports[size] = (seconds, peak, rows)
            print(
                f"    export: {rows} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s, peak memory {peak:.0f} MB"
            )
        ratio = exports[LARGE][1] / exports[SMALL][1]
        print(f"peak memory {LARGE} / {SMALL}: {ratio:.2f}  (target ≤ 1.2) {'ok' if ratio <= 1.2 else 'ABOVE'}")
        figure(f"evidence: export of {LARGE} events", exports[LARGE][2] / exports[LARGE][0], None, None, unit="rows/s")
        figure(f"evidence: export peak memory {LARGE} / {SMALL} events", ratio, "≤ 1.2", ratio <= 1.2)

        # verify against bare hashing of the same canonical bytes
        started = time.perf_counter()
        report = audit_verify()
        verify_seconds = time.perf_counter() - started
        assert report.ok, report.faults
        links = []
        read_started = time.perf_counter()
        seals = AuditSeal.objects.order_by("seq").values_list("seq", "event_id", "prev_hash").iterator(chunk_size=5000)
        fields = (
            "id", "occurred_at", "actor_user_id", "actor_api_key_id", "actor_label", "action",
            "object_type", "object_id", "object_repr", "changes", "request_id", "ip_address",
        )  # fmt: skip
        events = AuditEvent.objects.order_by("id").values(*fields).iterator(chunk_size=5000)
        by_id = {}
        for seq, event_id, prev in seals:
            while event_id not in by_id:
                event = next(events)
                by_id[event["id"]] = event
            links.append(canonical_event(by_id.pop(event_id), seq=seq, prev=prev))
        read_and_canonical = time.perf_counter() - read_started
        started = time.perf_counter()
        for data in links:
            hashlib.sha256(data).hexdigest()
        bare = time.perf_counter() - started
        n = report.links
        print(
            f"audit_verify: {n} links in {verify_seconds:.1f} s = {n / verify_seconds:,.0f} links/s "
            f"({report.checkpoints} checkpoints)"
        )
        print(f"bare SHA-256 over the same canonical bytes: {n / bare:,.0f} /s")
        print(f"read + canonicalise + SHA-256 (no chain logic): {n / (read_and_canonical + bare):,.0f} /s")
        verify_ratio = bare / verify_seconds
        print(
            f"verify / bare SHA-256: {verify_ratio:.3f} (target ≥ 0.33) {'ok' if verify_ratio >= 1 / 3 else 'BELOW'}; "
            f"verify / read+canonicalise+hash: {(read_and_canonical + bare) / verify_seconds:.2f}"
        )
        figure("evidence: audit_verify / bare SHA-256", verify_ratio, "≥ 0.33", verify_ratio >= 1 / 3)
        floor = read_floor_seconds()
        print(
            f"reading the chain from PostgreSQL alone (COPY, discarded): {n / floor:,.0f} /s = "
            f"{bare / floor:.2f} of bare SHA-256 — the most any verifier reading this database could reach"
        )
        figure("evidence: PostgreSQL read of the chain alone / bare SHA-256", bare / floor, None, None)
        return 0
    finally:
        connection.close()
        drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
