"""The automated restore drill's measured RTO next to a bare `pg_restore` of the same file.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/backup_drill.py [--quick]

Creates (and drops afterwards) the database `vigil_bench_backup_drill` on the server of
DATABASE_URL, migrates it and fills it with 100 000 incidents' worth of rows (each incident
with its timeline events and audit event; --quick: 2 000). Then `ops_backup create` backs it
up, and, alternating the order each round, the same file is restored by a bare `pg_restore`
(same command and options, into an empty database) and by the automated drill (scratch
database, checksum, restore, row counts and content hashes per table against the manifest,
canary query, scratch dropped). Target: drill RTO / bare pg_restore ≤ 1.3 (median of rounds).
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import figure  # noqa: E402
from bench._scratch import scratch_database  # noqa: E402

BENCH_DB = "vigil_bench_backup_drill"
BARE_DB = "vigil_bench_backup_bare"
QUICK = "--quick" in sys.argv
INCIDENTS = 2_000 if QUICK else 100_000
EVENTS_PER_INCIDENT = 3
ROUNDS = 1 if QUICK else 3
TARGET_RATIO = 1.3


def _admin_url(url: str) -> str:
    return urlunparse(urlparse(url)._replace(path="/postgres"))


def recreate(url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


def drop(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill(total: int, *, service_ids: list[int], user_id: int) -> None:
    """INSERT … SELECT generate_series, the shapes the services write: incidents, events, audit."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO incidents_incident (
                created_at, updated_at, title, summary, severity, status, service_id, commander_id,
                customer_impact, source, chat_url, dedup_key, ack_minutes, update_every_minutes,
                postmortem_required, postmortem_due_business_days, declared_at, ack_due_at, acknowledged_at,
                ack_breached, ack_breached_at, mitigated_at, resolved_at, closed_at
            )
            SELECT d, d, 'Incident ' || n, 'Checkout errors after deploy ' || n,
                   (ARRAY['SEV1','SEV2','SEV3'])[1 + n %% 3],
                   'closed', (%(services)s::bigint[])[1 + n %% array_length(%(services)s::bigint[], 1)],
                   %(user)s, '', 'manual', '', '', 5, 30, true, 5, d, d + interval '5 minutes',
                   d + interval '3 minutes', false, NULL, NULL, d + interval '2 hours', d + interval '3 days'
            FROM generate_series(1, %(total)s) AS n,
                 LATERAL (SELECT now() - (%(total)s - n) * interval '7 minutes' AS d) AS t
            """,
            {"services": service_ids, "user": user_id, "total": total},
        )
        cursor.execute(
            """
            INSERT INTO incidents_incidentevent (incident_id, kind, occurred_at, actor_id, actor_label, message, data)
            SELECT i.id, (ARRAY['declared','acknowledged','resolved'])[k], i.declared_at + k * interval '1 minute',
                   %(user)s, 'bench', 'Event ' || k || ' of incident ' || i.id, '{}'::jsonb
            FROM incidents_incident AS i, generate_series(1, %(per)s) AS k
            """,
            {"user": user_id, "per": EVENTS_PER_INCIDENT},
        )
        cursor.execute(
            """
            INSERT INTO governance_auditevent (occurred_at, actor_user_id, actor_label, action, object_type,
                                               object_id, object_repr, changes, request_id, ip_address)
            SELECT i.declared_at, %(user)s, 'bench', 'incident.declare', 'incidents.incident', i.id::text,
                   i.title, jsonb_build_object('title', jsonb_build_array(NULL, i.title)), '', NULL
            FROM incidents_incident AS i
            """,
            {"user": user_id},
        )
        cursor.execute("ANALYZE")


def bare_restore(url: str, path: Path) -> float:
    from backups.executors import database_from_url, pg_restore_command

    target = recreate(url, BARE_DB)
    database = database_from_url(target)
    started = time.perf_counter()
    subprocess.run(pg_restore_command(path, BARE_DB), env=database.pg_env(), check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    drop(url, BARE_DB)
    return elapsed


def main() -> int:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not urlparse(base).scheme.startswith("postgres"):
        sys.exit(f"{sys.argv[0]}: DATABASE_URL must point at PostgreSQL")
    url = scratch_database(BENCH_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    folder = Path(tempfile.mkdtemp(prefix="vigil_bench_backup_"))
    try:
        call_command("migrate", verbosity=0)
        from django.contrib.auth import get_user_model

        from backups import services
        from backups.executors import database_exists, default_database
        from governance.models import Service

        user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-123")
        service_ids = [Service.objects.create(slug=f"svc-{n}", name=f"Service {n}").pk for n in range(12)]
        started = time.perf_counter()
        fill(INCIDENTS, service_ids=service_ids, user_id=user.pk)
        print(
            f"filled {INCIDENTS} incidents, {INCIDENTS * EVENTS_PER_INCIDENT} events, {INCIDENTS} audit events "
            f"in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        run = services.vigil_backup_create(out_dir=folder)
        rows = sum(t["rows"] for t in run.manifest["tables"].values())
        print(
            f"ops_backup create: {run.size_bytes / 1e6:.1f} MB, {len(run.manifest['tables'])} tables, {rows} rows, "
            f"{time.perf_counter() - started:.1f} s"
        )
        target = services.vigil_target_ensure()
        bare_times, drill_times = [], []
        for round_number in range(ROUNDS):
            order = ("bare", "drill") if round_number % 2 == 0 else ("drill", "bare")
            for step in order:
                if step == "bare":
                    bare_times.append(bare_restore(url, Path(run.location)))
                else:
                    drill = services.drill_run_automated(target=target, backup_run=run)
                    if drill.status != "passed":
                        print(f"drill {drill.pk} {drill.status}: {drill.failure_reason}")
                        return 1
                    assert not database_exists(default_database(), drill.scratch_name)
                    drill_times.append(drill.measured_rto_seconds)
            print(
                f"round {round_number + 1}: bare pg_restore {bare_times[-1]:.2f} s, "
                f"drill measured RTO {drill_times[-1]:.2f} s"
            )
        bare, drilled = statistics.median(bare_times), statistics.median(drill_times)
        ratio = drilled / bare
        flag = "ok" if ratio <= TARGET_RATIO else "ABOVE TARGET"
        print(f"bare pg_restore median {bare:.2f} s; automated drill measured RTO median {drilled:.2f} s")
        print(f"ratio drill / bare pg_restore: {ratio:.2f}  (target ≤ {TARGET_RATIO}) {flag}")
        figure("drill: measured RTO (median)", drilled, None, None, unit="s")
        figure("drill: ratio drill RTO / bare pg_restore", ratio, f"≤ {TARGET_RATIO}", ratio <= TARGET_RATIO)
        return 0 if ratio <= TARGET_RATIO or QUICK else 1
    finally:
        connection.close()
        for path in folder.glob("*"):
            path.unlink()
        folder.rmdir()
        if "--keep" not in sys.argv:
            drop(base, BENCH_DB)
            drop(base, BARE_DB)


if __name__ == "__main__":
    sys.exit(main())
