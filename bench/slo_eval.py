"""Evaluating 100 SLOs over 28 days of pushed minute counts, next to a bare SQL scan of the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/slo_eval.py [--quick]

Creates (and drops afterwards) the scratch database `vigil_bench_slos` on the server of
DATABASE_URL, migrates it, and fills `slos_pushedinterval` with one row per SLO and minute
(100 × 28 × 1 440 = 4 032 000 intervals) plus the hourly roll-ups the push service keeps,
in bulk (INSERT … SELECT generate_series, the shape `slo_push_intervals` writes). Then, in the
same run:

1. evaluation: `slo_evaluate` for every SLO (SLI over 28 days, seven burn rates, status history,
   episodes and budget policy), as the scheduled job runs it;
2. bare SQL:   `SELECT slo_id, SUM(good), SUM(total) FROM slos_pushedinterval WHERE start >= now − 28 d
   GROUP BY slo_id` over the same rows (the naive scan, which computes only the window SLI);
3. the queries one SLO's evaluation makes with 1 day and with the full history.

Target: evaluation ≤ 1× the bare scan, and a query count that does not grow with history.
--quick: 10 SLOs × 2 days, same code paths, figures printed.
"""

import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import figure  # noqa: E402
from bench._scratch import drop_database, scratch_database  # noqa: E402

BENCH_DB = "vigil_bench_slos"
QUICK = "--quick" in sys.argv
SLOS = 10 if QUICK else 100
DAYS = 2 if QUICK else 28
ROUNDS = 3 if QUICK else 5
TARGET_RATIO = 1.0


def fill(slo_ids: list[int], *, end: datetime, days: int) -> int:
    """One interval per SLO and minute before `end` (≈0.05 % errors), and the hourly roll-ups."""
    from django.db import connection

    minutes = days * 24 * 60
    with connection.cursor() as cursor:
        for slo_id in slo_ids:
            cursor.execute(
                """
                INSERT INTO slos_pushedinterval (slo_id, start, "end", good, total)
                SELECT %s, %s - make_interval(mins => m), %s - make_interval(mins => m - 1),
                       1000 - (CASE WHEN m %% 2000 = 0 THEN 1 ELSE 0 END), 1000
                FROM generate_series(1, %s) AS m
                """,
                [slo_id, end, end, minutes],
            )
        cursor.execute(
            """
            INSERT INTO slos_hourlycount (slo_id, hour, good, total)
            SELECT slo_id, date_trunc('hour', start), SUM(good), SUM(total)
            FROM slos_pushedinterval GROUP BY slo_id, date_trunc('hour', start)
            """
        )
        cursor.execute("VACUUM ANALYZE slos_pushedinterval")
        cursor.execute("VACUUM ANALYZE slos_hourlycount")
        cursor.execute("SELECT COUNT(*) FROM slos_pushedinterval")
        return cursor.fetchone()[0]


def bare_scan(now: datetime) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            "SELECT slo_id, SUM(good), SUM(total) FROM slos_pushedinterval WHERE start >= %s AND start < %s "
            "GROUP BY slo_id",
            [now - timedelta(days=28), now],
        )
        rows = cursor.fetchall()
        elapsed = time.perf_counter() - started
    assert len(rows) == SLOS, len(rows)
    return elapsed


def evaluate_all(slo_ids: list[int], now: datetime) -> float:
    """What the scheduled job runs: every enabled SLO, read and recorded in batches."""
    from slos.tasks import evaluate_all as job

    started = time.perf_counter()
    results = job(now=now)
    elapsed = time.perf_counter() - started
    assert len(results) == len(slo_ids) and all(r.succeeded and r.sli is not None for r in results)
    return elapsed


def queries_for_one(slo_id: int, now: datetime) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from slos.services import slo_evaluate

    with CaptureQueriesContext(connection) as captured:
        slo_evaluate(slo=slo_id, now=now)
    return len(captured)


def main() -> int:
    url = scratch_database(BENCH_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    import django

    django.setup()
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import connection

    from governance.models import Service
    from slos.models import SLO

    try:
        call_command("migrate", verbosity=0)
        service = Service.objects.create(slug="bench", name="Bench", tier=1)
        now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1, seconds=-30)
        end = now.replace(second=0)
        # a short-history SLO for the query-count comparison
        short = SLO.objects.create(slug="short", name="Short", service=service, objective=Decimal("0.999"))
        fill([short.pk], end=end, days=1)
        short_queries = queries_for_one(short.pk, now)
        short.delete()

        slo_ids = [
            SLO.objects.create(slug=f"slo-{n}", name=f"SLO {n}", service=service, objective=Decimal("0.999")).pk
            for n in range(SLOS)
        ]
        started = time.perf_counter()
        rows = fill(slo_ids, end=end, days=DAYS)
        filled = time.perf_counter() - started
        print(f"{SLOS} SLOs × {DAYS} days of minute intervals: {rows:,} rows (filled in {filled:.1f} s)")
        full_queries = queries_for_one(slo_ids[0], now)
        bare_scan(now)  # warm both paths once
        evaluate_all(slo_ids, now)
        scans = [bare_scan(now) for _ in range(ROUNDS)]
        evals = [evaluate_all(slo_ids, now) for _ in range(ROUNDS)]
        scan, evaluation = statistics.median(scans), statistics.median(evals)
        ratio = evaluation / scan
        print(f"bare SQL SUM … GROUP BY slo over the window: {scan * 1000:8.1f} ms (median of {ROUNDS})")
        print(f"evaluate {SLOS} SLOs (window, 7 burn rates, history): {evaluation * 1000:8.1f} ms (median of {ROUNDS})")
        verdict = "ok" if ratio <= TARGET_RATIO else "ABOVE TARGET"
        print(f"ratio evaluation / bare scan: {ratio:.2f}  (target ≤ {TARGET_RATIO}) {verdict}")
        print(f"queries per SLO evaluation: {short_queries} with 1 day of history, {full_queries} with {DAYS} days")
        figure(f"SLO eval: {SLOS} SLOs × {DAYS} days", evaluation * 1000, None, None, unit="ms")
        figure("SLO eval: ratio evaluation / bare SQL scan", ratio, f"≤ {TARGET_RATIO}", ratio <= TARGET_RATIO)
        figure(
            f"SLO eval: queries per evaluation, 1 → {DAYS} days of history",
            f"{short_queries} → {full_queries}",
            "constant",
            full_queries == short_queries,
        )
        ok = ratio <= TARGET_RATIO and full_queries == short_queries
        return 0 if ok or QUICK else 1
    finally:
        connection.close()
        if "--keep" not in sys.argv:
            drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
