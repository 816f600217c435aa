"""Release-gate latency through gunicorn on PostgreSQL, next to /health/live in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/release_gate.py [--quick]

Creates the scratch database `vigil_bench_release_gate` (dropped afterwards), seeds 10 000
changes (with deployments) and 1 000 incidents (a few open SEV1s), freeze windows and a registered
check per kind, starts one gunicorn with production settings, then asks the gate and /health/live
alternately from one client and prints p50/p95/p99 of each. The gate is asked both for a service
it allows and for one it refuses (open SEV1 + freeze). Also prints the gate's query count on an
empty and on the seeded database (it must not grow). Target: gate p95 ≤ 3 × /health/live p95.
"""

import datetime as dt
import http.client
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "vigil_bench_release_gate"
QUICK = "--quick" in sys.argv
CHANGES = 500 if QUICK else 10_000
INCIDENTS = 100 if QUICK else 1_000
REQUESTS = 60 if QUICK else 1_500
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
TARGET_RATIO = 3.0

from bench._report import figure  # noqa: E402
from bench._scratch import drop_database, scratch_database  # noqa: E402
from bench._servers import UNTHROTTLED, production_env, start_gunicorn, stop  # noqa: E402


def seed(services) -> None:
    """Bulk rows shaped like real ones: the gate's queries see realistic table sizes."""
    from django.contrib.auth import get_user_model

    from changes.models import Change, Deployment
    from incidents.models import Incident

    now = dt.datetime.now(dt.UTC)
    user = get_user_model().objects.create(username="bench-dev", is_staff=True)
    statuses = ["completed", "completed", "completed", "approved", "submitted", "failed", "rolled_back", "cancelled"]
    changes = [
        Change(
            title=f"Bench change {n}",
            kind=["standard", "normal", "emergency"][n % 3],
            status=statuses[n % len(statuses)],
            risk="low",
            implementer=user,
            release_tag=f"v{n}",
            submitted_at=now - dt.timedelta(hours=n % 500),
            approved_at=now - dt.timedelta(hours=n % 500) if statuses[n % len(statuses)] != "submitted" else None,
            planned_start=now + dt.timedelta(hours=(n % 400) - 200),
            planned_end=now + dt.timedelta(hours=(n % 400) - 199),
            created_at=now - dt.timedelta(minutes=n),
        )
        for n in range(CHANGES)
    ]
    Change.objects.bulk_create(changes, batch_size=2000)
    through = Change.services.through
    through.objects.bulk_create(
        [through(change_id=c.pk, service_id=services[i % len(services)].pk) for i, c in enumerate(changes)],
        batch_size=5000,
    )
    Deployment.objects.bulk_create(
        [
            Deployment(
                change=c,
                service=services[i % len(services)],
                environment="production",
                version=c.release_tag,
                status="succeeded",
                started_at=now - dt.timedelta(minutes=7 * i + 10),
                finished_at=now - dt.timedelta(minutes=7 * i + 5),
            )
            for i, c in enumerate(changes)
        ],
        batch_size=2000,
    )
    incidents = []
    for n in range(5, INCIDENTS):
        declared = now - dt.timedelta(hours=n + 1)
        incidents.append(
            Incident(
                title=f"Bench incident {n}",
                severity=["SEV1", "SEV2", "SEV3"][n % 3],
                status="resolved",
                service=services[n % len(services)],
                ack_minutes=5,
                declared_at=declared,
                ack_due_at=declared + dt.timedelta(minutes=5),
                acknowledged_at=declared + dt.timedelta(minutes=2),
                resolved_at=declared + dt.timedelta(minutes=40),
            )
        )
    Incident.objects.bulk_create(incidents, batch_size=1000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def seed_shape(services) -> None:
    """What decides the gate's answers: freeze windows and 5 open SEV1s on the refused service.
    The gate's query count is measured with only these, then again with the full volume."""
    from changes.models import FreezeWindow
    from incidents.models import Incident

    now = dt.datetime.now(dt.UTC)
    for n in range(5):
        declared = now - dt.timedelta(hours=n + 1)
        Incident.objects.create(
            title=f"Open bench incident {n}",
            severity="SEV1",
            status="acknowledged",
            service=services[0],
            ack_minutes=5,
            declared_at=declared,
            ack_due_at=declared + dt.timedelta(minutes=5),
            acknowledged_at=declared + dt.timedelta(minutes=2),
        )
    FreezeWindow.objects.create(
        name="Past freeze",
        reason="over",
        starts_at=now - dt.timedelta(days=30),
        ends_at=now - dt.timedelta(days=29),
        all_services=True,
    )
    FreezeWindow.objects.create(
        name="Weekends",
        reason="weekends",
        recurrence="weekly",
        weekdays=[5, 6],
        start_time=dt.time(0),
        end_time=dt.time(23, 59),
        all_services=True,
        environments="production",
    )
    nightly = FreezeWindow.objects.create(
        name="Nightly batch",
        reason="batch",
        recurrence="cron",
        cron="0 1 * * *",
        duration_minutes=120,
    )
    nightly.services.set(services[2:6])
    incident_freeze = FreezeWindow.objects.create(
        name="Refused service freeze",
        reason="bench",
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(days=1),
    )
    incident_freeze.services.set([services[0]])


def gate_queries(service_slug: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from changes.services.gate import gate_evaluate
    from governance.models import Service

    service = Service.objects.get(slug=service_slug)
    with CaptureQueriesContext(connection) as captured:
        gate_evaluate(service=service, environment="production", version="v5")
    return len(captured)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None, headers: dict
) -> tuple[float, int]:
    started = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return (time.perf_counter() - started) * 1000, response.status


def main() -> int:
    url = scratch_database(BENCH_DB)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")
    # LOG_LEVEL: every refusal is a 409, which Django logs as a warning.
    env = production_env(url, redis_url, LOG_LEVEL="ERROR", **UNTHROTTLED)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from governance.models import Service
    from governance.services import api_key_create

    gunicorn = None
    try:
        call_command("migrate", verbosity=0)
        services = [
            Service.objects.get_or_create(slug=f"svc-{n}", defaults={"name": f"Service {n}"})[0] for n in range(20)
        ]
        seed_shape(services)
        queries_empty = gate_queries("svc-0"), gate_queries("svc-1")
        started = time.perf_counter()
        seed(services)
        seeded_in = time.perf_counter() - started
        queries_seeded = gate_queries("svc-0"), gate_queries("svc-1")
        token = api_key_create(name="bench pipeline", scopes=["changes:gate"]).raw_key
        connection.close()
        gunicorn, port = start_gunicorn(env, workers=WORKERS)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        allowed_body = json.dumps({"service": "svc-1", "environment": "staging", "version": "v5"}).encode()
        refused_body = json.dumps({"service": "svc-0", "environment": "production", "version": "v5"}).encode()
        live, allowed, refused = [], [], []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(30):  # warm every worker's imports, connections and key cache
            timed(conn, "GET", "/health/live", None, {})
            timed(conn, "POST", "/api/v1/changes/gate/", allowed_body, headers)
        for _ in range(REQUESTS):
            ms, status = timed(conn, "GET", "/health/live", None, {})
            assert status == 200, status
            live.append(ms)
            ms, status = timed(conn, "POST", "/api/v1/changes/gate/", allowed_body, headers)
            assert status == 200, status
            allowed.append(ms)
            ms, status = timed(conn, "POST", "/api/v1/changes/gate/", refused_body, headers)
            assert status == 409, status
            refused.append(ms)
        conn.close()

        def line(name, values):
            return (
                f"{name:<28} p50 {statistics.median(values):6.2f} ms  p95 {percentile(values, 95):6.2f} ms  "
                f"p99 {percentile(values, 99):6.2f} ms"
            )

        print(
            f"{WORKERS} gunicorn workers, PostgreSQL, {CHANGES} changes with deployments and {INCIDENTS} incidents "
            f"(seeded in {seeded_in:.1f} s), {REQUESTS} requests each, one keep-alive client"
        )
        print(line("/health/live", live))
        print(line("gate (allowed, 200)", allowed))
        print(line("gate (refused, 409)", refused))
        ratio = max(percentile(allowed, 95), percentile(refused, 95)) / percentile(live, 95)
        verdict = "ok" if ratio <= TARGET_RATIO else "ABOVE"
        print(f"gate p95 / live p95     : {ratio:.2f}  (target ≤ {TARGET_RATIO}) {verdict}")
        print(
            f"gate queries (refused, allowed): empty database {queries_empty}, seeded {queries_seeded} "
            f"{'constant' if queries_empty == queries_seeded else 'GREW'}"
        )
        gate_p95 = max(percentile(allowed, 95), percentile(refused, 95))
        figure("gate: p95 through gunicorn (allowed or refused, the slower)", gate_p95, None, None, unit="ms")
        figure("gate: ratio gate p95 / /health/live p95", ratio, f"≤ {TARGET_RATIO}", ratio <= TARGET_RATIO)
        figure(
            "gate: queries (refused, allowed), empty → seeded",
            f"{queries_empty} → {queries_seeded}",
            "constant",
            queries_empty == queries_seeded,
        )
        ok = ratio <= TARGET_RATIO and queries_empty == queries_seeded
        return 0 if ok or QUICK else 1
    finally:
        stop(gunicorn)
        connection.close()
        drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
