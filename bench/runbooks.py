"""Runbooks at scale on PostgreSQL: import, render, the procedures job and the admin lists.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/runbooks.py [--quick]

Creates (and drops afterwards) the scratch database `vigil_bench_runbooks` on the server of
DATABASE_URL, migrates it, then measures:

1. runbooks_import of a folder of N runbook files, again unchanged (hash comparison only),
   and again after editing every file (one new version each);
2. rendering a version's Markdown (sanitised) per page;
3. the procedures job over N scheduled runbooks (creating the due executions, then a no-op run);
4. the execution changelist and the runbook changelist at a small and a large size: median
   time and query count (the query count must not grow with the rows).
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import figure  # noqa: E402
from bench._scratch import drop_database, scratch_database  # noqa: E402

BENCH_DB = "vigil_bench_runbooks"
QUICK = "--quick" in sys.argv
FILES = 20 if QUICK else 300
EXECUTIONS = (100, 1_000) if QUICK else (1_000, 50_000)
ROUNDS = 3 if QUICK else 20

BODY = """Context for runbook {n}: what this is for and when to use it.

## Step 1: Check the service
```sh
curl -fsS https://svc-{n}.internal/health
```
Expected: HTTP 200 and "ok".
Rollback: nothing to roll back.

## Step 2: Drain traffic
Drain the node before restarting it. See [the dashboard](https://grafana.example/d/{n}).

```sh
kubectl drain node-{n} --ignore-daemonsets
```
Expected: the node is cordoned, pods rescheduled.
Rollback: `kubectl uncordon node-{n}`

## Step 3: Restart and verify
```sql
SELECT count(*) FROM jobs WHERE state = 'stuck';
```
Expected: 0 rows stuck.
"""


def write_files(folder: Path, *, edit: bool = False) -> None:
    for n in range(FILES):
        cadence = "cadence:\n  schedule: daily\n  timezone: Europe/Berlin\n" if n % 2 == 0 else ""
        body = BODY.format(n=n) + ("\nEdited: one more line.\n" if edit else "")
        (folder / f"runbook-{n:04d}.md").write_text(
            f"---\nslug: runbook-{n:04d}\ntitle: Runbook {n}\nservice: svc-{n % 12}\n"
            f"severities: [SEV{1 + n % 3}]\nalert_names: [Alert{n}]\n{cadence}---\n{body}"
        )


def timed(label: str, func):
    started = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - started
    return result, elapsed


def fill_executions(total: int) -> None:
    """Bulk executions (as execution_start writes them) so the list has `total` rows."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM runbooks_runbookexecution")
        have = cursor.fetchone()[0]
        if have >= total:
            return
        cursor.execute(
            """
            INSERT INTO runbooks_runbookexecution (created_at, updated_at, runbook_id, version_id, purpose, status,
                result, notes, missed_slots, started_at, completed_at)
            SELECT now() - n * interval '1 minute', now(), v.runbook_id, v.id, 'drill',
                   CASE WHEN n %% 5 = 0 THEN 'in_progress' ELSE 'completed' END, '', '', 0, now(),
                   CASE WHEN n %% 5 = 0 THEN NULL ELSE now() END
            FROM generate_series(%(start)s, %(total)s) AS n
            JOIN LATERAL (
                SELECT id, runbook_id FROM runbooks_runbookversion WHERE published_at IS NOT NULL
                ORDER BY id OFFSET (n %% %(files)s) LIMIT 1
            ) AS v ON true
            """,
            {"start": have + 1, "total": total, "files": FILES},
        )
        cursor.execute("ANALYZE runbooks_runbookexecution")


def page(client, path: str) -> tuple[float, int]:
    from django.db import connection

    for _ in range(2):
        assert client.get(path).status_code == 200
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200
    executed = []

    def record(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        client.get(path)
    return statistics.median(samples) * 1000, len(executed)


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
    from runbooks.models import RunbookExecution, RunbookVersion
    from runbooks.rendering import render_version
    from runbooks.services import procedures_create_due, runbooks_import

    try:
        call_command("migrate", verbosity=0)
        for n in range(12):
            Service.objects.create(slug=f"svc-{n}", name=f"Service {n}", tier=1 + n % 3)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_files(folder)
            report, first = timed("first", lambda: runbooks_import(path=folder))
            assert report.count("created") == FILES, report.summary()
            report, again = timed("again", lambda: runbooks_import(path=folder))
            assert report.count("unchanged") == FILES, report.summary()
            write_files(folder, edit=True)
            report, edited = timed("edited", lambda: runbooks_import(path=folder))
            assert report.count("new version") == FILES, report.summary()
        print(f"runbooks_import of {FILES} files:")
        print(f"    first import     {first * 1000 / FILES:7.2f} ms/file  ({first:.2f} s)")
        print(f"    unchanged again  {again * 1000 / FILES:7.2f} ms/file  ({again:.2f} s)")
        print(f"    every file edited {edited * 1000 / FILES:6.2f} ms/file  ({edited:.2f} s, {FILES} new versions)")

        versions = list(RunbookVersion.objects.filter(published_at__isnull=False)[:50])
        _, rendering = timed("render", lambda: [render_version(v) for v in versions])
        print(f"render (Markdown → sanitised HTML, 3 steps): {rendering * 1000 / len(versions):.2f} ms/version")

        from datetime import timedelta

        from django.utils import timezone

        later = timezone.now() + timedelta(days=1, hours=1)
        created, job = timed("procedures", lambda: procedures_create_due(now=later))
        _, noop = timed("procedures", lambda: procedures_create_due(now=later))
        print(
            f"procedures job over {FILES // 2} daily runbooks: {job * 1000:.0f} ms ({created} created), "
            f"second run {noop * 1000:.0f} ms ({RunbookExecution.objects.count()} executions in all)"
        )

        from django.contrib.auth import get_user_model

        admin = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-123")
        client = Client()
        client.force_login(admin)
        rows = {}
        for total in EXECUTIONS:
            fill_executions(total)
            rows[total] = {
                "executions": page(client, "/admin/runbooks/runbookexecution/"),
                "executions open": page(client, "/admin/runbooks/runbookexecution/?status__exact=in_progress"),
                "runbooks": page(client, "/admin/runbooks/runbook/"),
            }
            print(f"{total:>7} executions:")
            for label, (ms, queries) in rows[total].items():
                print(f"    {label:<16} {ms:7.1f} ms median of {ROUNDS}, {queries} queries")
        small, large = EXECUTIONS
        same = all(rows[small][label][1] == rows[large][label][1] for label in rows[small])
        print(f"query counts constant from {small} to {large} executions: {'yes' if same else 'NO'}")
        figure(f"runbooks: import of {FILES} new files", first * 1000 / FILES, None, None, unit="ms/file")
        figure(
            f"runbooks: changelist query counts {small} → {large} executions",
            "constant" if same else "grew",
            "constant",
            same,
        )
        return 0 if same or QUICK else 1
    finally:
        connection.close()
        if "--keep" not in sys.argv:
            drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
