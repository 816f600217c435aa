"""The real pgBackRest against a throwaway PostgreSQL cluster: `info --output=json` becomes runs."""

import shutil
from pathlib import Path

import pytest

from backups.choices import RunKind, RunStatus
from backups.models import BackupRun
from backups.services import backup_tool_report
from tests.conftest import need
from tests.servers import ThrowawayPostgres, postgres_bindir, run_as_postgres

PGBACKREST = shutil.which("pgbackrest") or "/usr/bin/pgbackrest"
STANZA = "vigiltest"


@pytest.fixture
def pgbackrest_cluster():
    need(Path(PGBACKREST).exists() and postgres_bindir() is not None, "pgbackrest or initdb missing")
    cluster = ThrowawayPostgres(prefix="vigil_pgbr_", tcp=False)
    try:
        folder = cluster.folder
        config = folder / "pgbackrest.conf"
        config.write_text(
            f"[global]\nrepo1-path={folder}/repo\nlog-path={folder}/log\nlock-path={folder}/lock\n"
            f"start-fast=y\nlog-level-console=warn\n\n[{STANZA}]\npg1-path={cluster.data}\n"
            f"pg1-socket-path={folder}\npg1-port={cluster.port}\n"
        )
        cluster.own(config)
        pgbr = f"{PGBACKREST} --config={config} --stanza={STANZA}"
        cluster.configure(archive_mode="on", wal_level="replica", archive_command=f"'{pgbr} archive-push %p'")
        cluster.start()
        yield lambda args: run_as_postgres(f"{pgbr} {args}")
    finally:
        cluster.destroy()


def test_real_pgbackrest_info_reports_full_and_incremental_backups(pgbackrest_cluster, target):
    run = pgbackrest_cluster
    for args in ("stanza-create", "backup --type=full", "backup --type=incr"):
        result = run(args)
        assert result.returncode == 0, f"pgbackrest {args}: {result.stderr}"
    info = run("info --output=json")
    assert info.returncode == 0, info.stderr

    counts = backup_tool_report(target=target, tool="pgbackrest", data=info.stdout)

    assert counts == {"created": 2, "updated": 0, "unchanged": 0}
    full, incr = BackupRun.objects.filter(target=target).order_by("started_at", "id")
    assert (full.kind, incr.kind) == (RunKind.FULL, RunKind.INCREMENTAL)
    assert full.status == incr.status == RunStatus.SUCCEEDED
    assert full.external_id.startswith(f"{STANZA}/") and full.external_id.endswith("F")
    assert full.recovery_point_detail.startswith("WAL ")
    assert full.finished_at >= full.started_at
    assert backup_tool_report(target=target, tool="pgbackrest", data=info.stdout)["unchanged"] == 2
