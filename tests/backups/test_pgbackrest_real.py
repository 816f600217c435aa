"""The real pgBackRest against a throwaway PostgreSQL cluster: `info --output=json` becomes runs."""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from backups.choices import RunKind, RunStatus
from backups.models import BackupRun
from backups.services import backup_tool_report
from tests.conftest import need

PGBACKREST = shutil.which("pgbackrest") or "/usr/bin/pgbackrest"
STANZA = "vigiltest"


def _bindir() -> Path | None:
    try:
        return Path(
            subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(command: str, **kwargs):
    # initdb refuses root: the server binaries run as the postgres user, in a folder it owns.
    runner = ["su", "postgres", "-s", "/bin/bash", "-c", command] if os.geteuid() == 0 else ["bash", "-c", command]
    return subprocess.run(runner, capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture
def pgbackrest_cluster():
    bindir = _bindir()
    need(
        Path(PGBACKREST).exists() and bindir is not None and (bindir / "initdb").exists(),
        "pgbackrest or initdb missing",
    )
    folder = Path(tempfile.mkdtemp(prefix="vigil_pgbr_"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = _free_port()
    config = folder / "pgbackrest.conf"
    config.write_text(
        f"[global]\nrepo1-path={folder}/repo\nlog-path={folder}/log\nlock-path={folder}/lock\n"
        f"start-fast=y\nlog-level-console=warn\n\n[{STANZA}]\npg1-path={folder}/data\n"
        f"pg1-socket-path={folder}\npg1-port={port}\n"
    )
    if os.geteuid() == 0:
        shutil.chown(config, "postgres", "postgres")
    pgbr = f"{PGBACKREST} --config={config} --stanza={STANZA}"
    result = _as_postgres(f"{bindir}/initdb -D {folder}/data -A trust -U postgres >/dev/null")
    assert result.returncode == 0, result.stderr
    with open(folder / "data" / "postgresql.conf", "a") as conf:
        conf.write(
            f"\nlisten_addresses = ''\nport = {port}\nunix_socket_directories = '{folder}'\n"
            f"archive_mode = on\nwal_level = replica\narchive_command = '{pgbr} archive-push %p'\n"
        )
    result = _as_postgres(f"{bindir}/pg_ctl -D {folder}/data -l {folder}/server.log -w start")
    assert result.returncode == 0, result.stderr
    try:
        yield lambda args: _as_postgres(f"{pgbr} {args}")
    finally:
        _as_postgres(f"{bindir}/pg_ctl -D {folder}/data -m immediate -w stop")
        shutil.rmtree(folder, ignore_errors=True)


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
