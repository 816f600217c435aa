"""History at scale: the pages people open stay flat from a thousand to a million incidents.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/history_scale.py [--quick]

Creates (and drops afterwards) the scratch database `vigil_bench_history`, migrates it, and measures
in-process (Django's test client, a signed-in superuser or an API key) at a small and a large size:

- admin incident search `?q=disk` (no match) and by reference `?q=INC-999`
- the admin index (dashboard), `/metrics`, `GET /api/v1/incidents/?severity=SEV1`
- the audit changelist: unfiltered, filtered by object, searched by actor

Full mode: 1 000 and 1 000 000 incidents with 10 audit events each (10 000 000 at the large size);
`--quick`: 1 000 and 10 000 incidents. Prints the median of ROUNDS requests and the query count per
page at each size and their ratio (target ≤ 1.2, equal query counts). Incidents are written as the
declare service writes them (`bench/admin_incidents.py`'s fill, through the roll-up triggers); audit
events by INSERT … SELECT in the shape `audit_record` writes.
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
from bench.admin_incidents import count_queries, fill_to  # noqa: E402

BENCH_DB = "vigil_bench_history"
QUICK = "--quick" in sys.argv
SIZES = (1_000, 10_000) if QUICK else (1_000, 1_000_000)
AUDIT_PER_INCIDENT = 10
ROUNDS = 5 if QUICK else 25
WARMUP = 2 if QUICK else 5
TARGET_RATIO = 1.2
ACTORS = ["alice.martin", "bob.schulz", "system", "api-key:ci-pipeline", "noah.fischer"]


def pages(object_id: int) -> dict[str, tuple[str, str]]:
    """label → (path, who): "admin" is the session, "key" the API key."""
    return {
        "incident search ?q=disk": ("/admin/incidents/incident/?q=disk", "admin"),
        "incident search ?q=INC-999": ("/admin/incidents/incident/?q=INC-999", "admin"),
        "admin index (dashboard)": ("/admin/", "admin"),
        "/metrics": ("/metrics", "key"),
        "API ?severity=SEV1": ("/api/v1/incidents/?severity=SEV1", "key"),
        "audit changelist": ("/admin/governance/auditevent/", "admin"),
        "audit by object": (
            f"/admin/governance/auditevent/?object_type=incidents.incident&object_id={object_id}",
            "admin",
        ),
        "audit search by actor": ("/admin/governance/auditevent/?q=noah", "admin"),
    }


def fill_audit(total: int) -> None:
    """Audit events up to `total` rows, newest last, about incidents, as audit_record writes them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM governance_auditevent")
        start = cursor.fetchone()[0] + 1
        if start > total:
            return
        cursor.execute(
            """
            INSERT INTO governance_auditevent (
                occurred_at, actor_user_id, actor_api_key_id, actor_label, action, object_type, object_id,
                object_repr, changes, request_id, ip_address
            )
            SELECT now() - (%(total)s - n) * interval '42 seconds', NULL, NULL,
                   (%(actors)s::text[])[1 + n %% 5],
                   (ARRAY['incident.declare', 'incident.acknowledge', 'incident.resolve', 'update'])[1 + n %% 4],
                   'incidents.incident', ((n / 10) + 1)::text, 'INC-' || ((n / 10) + 1),
                   '{"status": ["declared", "acknowledged"]}'::jsonb, md5(n::text), '10.0.0.1'
            FROM generate_series(%(start)s, %(total)s) AS n
            """,
            {"start": start, "total": total, "actors": ACTORS},
        )
        cursor.execute("ANALYZE governance_auditevent")


def settle(connection) -> None:
    """What a running server's autovacuum and checkpointer would have done after a bulk fill: fresh
    statistics for every table and the fill's dirty pages written, so no page is timed during the flush."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("CHECKPOINT")


def median_ms(get, path: str) -> float:
    for _ in range(WARMUP):
        assert get(path).status_code == 200, path
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = get(path)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(samples) * 1000


def main() -> int:
    url = scratch_database(BENCH_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from governance.models import Service
    from governance.services import api_key_create

    settings.METRICS_PUBLIC = False
    try:
        call_command("migrate", verbosity=0)
        admin = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-123")
        service_ids = [
            Service.objects.create(slug=f"svc-{n}", name=f"Service {n}", tier=1 + n % 3).pk for n in range(12)
        ]
        key = api_key_create(name="bench", scopes=["incidents:read", "health:read"]).raw_key
        session = Client()
        session.force_login(admin)
        keyed = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        clients = {"admin": session, "key": keyed}
        results: dict[int, dict[str, tuple[float, int]]] = {}
        for total in SIZES:
            started = time.perf_counter()
            fill_to(total, service_ids=service_ids, commander_id=admin.pk)
            fill_audit(total * AUDIT_PER_INCIDENT)
            filled = time.perf_counter() - started
            settle(connection)
            row = {}
            for label, (path, who) in pages(object_id=total // 2).items():
                client = clients[who]
                row[label] = (median_ms(client.get, path), count_queries(client, path))
            results[total] = row
            print(f"{total:>9} incidents, {total * AUDIT_PER_INCIDENT:>10} audit events (filled in {filled:.1f} s):")
            for label, (ms, queries) in row.items():
                print(f"    {label:<28} {ms:8.1f} ms median of {ROUNDS}, {queries:>2} queries")
        small, large = SIZES
        print()
        ok = True
        for label in results[small]:
            ratio = results[large][label][0] / results[small][label][0]
            same = results[large][label][1] == results[small][label][1]
            good = ratio <= TARGET_RATIO and same
            ok &= good
            print(
                f"{label:<28} ratio {large}/{small}: {ratio:5.2f} (target ≤ {TARGET_RATIO}), "
                f"queries {results[small][label][1]} → {results[large][label][1]}  {'ok' if good else 'ABOVE TARGET'}"
            )
            figure(
                f"history scale: {label}, {large} / {small} incidents",
                f"{ratio:.2f}, queries {results[small][label][1]} → {results[large][label][1]}",
                f"≤ {TARGET_RATIO}, same queries",
                good,
            )
        return 0 if ok or QUICK else 1
    finally:
        connection.close()
        if "--keep" not in sys.argv:
            drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
