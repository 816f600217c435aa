"""Incident changelist page time at 1 000 and at 100 000 incidents on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/admin_incidents.py [--quick]

Creates (and drops afterwards) the scratch database `vigil_bench_incidents` on the
server of DATABASE_URL, migrates it, fills it with incidents in bulk and times the
admin changelist in-process (Django's test client, a signed-in superuser). The
target: the page at 100 000 incidents costs at most 1.5× the page at 1 000.
"""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import figure  # noqa: E402
from bench._scratch import drop_database, scratch_database  # noqa: E402

BENCH_DB = "vigil_bench_incidents"
QUICK = "--quick" in sys.argv  # CI: 200 and 2 000 incidents, fewer rounds, figures only
ROUNDS = 5 if QUICK else 40
WARMUP = 2 if QUICK else 5
SIZES = (200, 2_000) if QUICK else (1_000, 100_000)
TARGET_RATIO = 1.5
PAGES = {
    "unfiltered": "",
    "SEV1 + declared": "?severity__exact=SEV1&status__exact=declared",
    "open": "?open=yes",
}


def fill_to(total: int, *, service_ids: list[int], commander_id: int) -> None:
    """INSERT … SELECT generate_series: 100 000 rows in seconds, the shape the declare service writes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM incidents_incident")
        start = cursor.fetchone()[0] + 1
        if start > total:
            return
        # The newest 40 stay open at every size, so each page shows the same rows to render.
        cursor.execute(
            """
            UPDATE incidents_incident SET status = 'closed', acknowledged_at = declared_at + interval '3 minutes',
                   resolved_at = declared_at + interval '2 hours', closed_at = declared_at + interval '3 days'
            WHERE status = 'declared'
            """
        )
        cursor.execute(
            """
            INSERT INTO incidents_incident (
                created_at, updated_at, title, summary, severity, status, service_id, commander_id,
                customer_impact, source, chat_url, dedup_key, ack_minutes, update_every_minutes,
                postmortem_required, postmortem_due_business_days, declared_at, ack_due_at, acknowledged_at,
                ack_breached, ack_breached_at, mitigated_at, resolved_at, closed_at
            )
            SELECT d, d, 'Incident ' || n, '', s.sev, s.status,
                   (%(services)s::bigint[])[1 + n %% array_length(%(services)s::bigint[], 1)],
                   %(commander)s, '', 'manual', '', '', 5, 30, true, 5,
                   d, d + interval '5 minutes',
                   CASE WHEN s.status = 'declared' THEN NULL ELSE d + interval '3 minutes' END,
                   n %% 7 = 0, CASE WHEN n %% 7 = 0 THEN d + interval '5 minutes' END,
                   NULL,
                   CASE WHEN s.status IN ('resolved', 'closed') THEN d + interval '2 hours' END,
                   CASE WHEN s.status = 'closed' THEN d + interval '3 days' END
            FROM generate_series(%(start)s, %(total)s) AS n,
                 LATERAL (SELECT now() - (%(total)s - n) * interval '7 minutes' AS d) AS t,
                 LATERAL (
                     SELECT (ARRAY['SEV1', 'SEV2', 'SEV3'])[1 + n %% 3] AS sev,
                            CASE WHEN n > %(total)s - 40 THEN 'declared'
                                 WHEN n %% 11 = 0 THEN 'resolved' ELSE 'closed' END AS status
                 ) AS s
            """,
            {"services": service_ids, "commander": commander_id, "start": start, "total": total},
        )
        cursor.execute("ANALYZE incidents_incident")


def count_queries(client, path: str) -> int:
    from django.db import connection

    executed = []

    def record(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        client.get(path)
    return len(executed)


def time_page(client, path: str) -> float:
    for _ in range(WARMUP):
        assert client.get(path).status_code == 200
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return statistics.median(samples) * 1000


def main() -> int:
    url = scratch_database(BENCH_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from governance.models import Service

    try:
        call_command("migrate", verbosity=0)
        from django.contrib.auth import get_user_model

        admin = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-123")
        service_ids = [
            Service.objects.create(slug=f"svc-{n}", name=f"Service {n}", tier=1 + n % 3).pk for n in range(12)
        ]
        client = Client()
        client.force_login(admin)
        changelist = "/admin/incidents/incident/"
        results = {}
        small, large = SIZES
        for total in SIZES:
            started = time.perf_counter()
            fill_to(total, service_ids=service_ids, commander_id=admin.pk)
            filled = time.perf_counter() - started
            row = {}
            for label, query in PAGES.items():
                row[label] = (time_page(client, changelist + query), count_queries(client, changelist + query))
            results[total] = row
            print(f"{total:>7} incidents (filled in {filled:.1f} s):")
            for label, (ms, queries) in row.items():
                print(f"    {label:<16} {ms:7.1f} ms median of {ROUNDS}, {queries} queries")
        print()
        ok = True
        for label in PAGES:
            ratio = results[large][label][0] / results[small][label][0]
            flag = "ok" if ratio <= TARGET_RATIO else "ABOVE TARGET"
            ok &= ratio <= TARGET_RATIO
            print(f"ratio {large} / {small} ({label}): {ratio:.2f}  (target ≤ {TARGET_RATIO}) {flag}")
            figure(
                f"changelist: page {large} / {small} incidents ({label})",
                ratio,
                f"≤ {TARGET_RATIO}",
                ratio <= TARGET_RATIO,
            )
        return 0 if ok or QUICK else 1
    finally:
        connection.close()
        if "--keep" not in sys.argv:
            drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
