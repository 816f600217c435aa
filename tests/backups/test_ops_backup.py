"""ops_backup on the configured engine (run the suite on PostgreSQL and on SQLite): create, drill, restore, verify."""

import contextlib
import datetime as dt
import secrets
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from backups import executors
from backups.choices import DrillStatus
from backups.models import BackupRun, RestoreDrill
from tests.factories import ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def some_rows(db):
    """Rows in several tables, committed, so pg_dump (another process) sees them."""
    for n in range(5):
        ServiceFactory(slug=f"svc-{n}", name=f"Service {n}")
        UserFactory(username=f"person{n}")


@pytest.fixture
def backup_folder(tmp_path):
    return tmp_path / "backups"


def _create(backup_folder, capsys) -> BackupRun:
    call_command("ops_backup", "create", "--out", str(backup_folder), "--quiet")
    out = capsys.readouterr().out.strip().splitlines()
    path = Path(out[-1])
    assert path.is_file() and path.parent == backup_folder.resolve()
    assert out[0].startswith("backup created:")
    return BackupRun.objects.get(location=str(path))


def _scratch_databases() -> set[str]:
    database = executors.default_database()
    if database.vendor == "sqlite":
        return set()
    with contextlib.closing(database.connect(dbname="postgres")) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'vigil_drill_%'").fetchall()
    return {row[0] for row in rows}


def _assert_scratch_gone(drill: RestoreDrill, before: set[str]) -> None:
    if drill.scratch_name:
        assert not executors.database_exists(executors.default_database(), drill.scratch_name)
    assert _scratch_databases() <= before


def _drill(capsys) -> tuple[RestoreDrill, str]:
    try:
        call_command("ops_backup", "drill", "--quiet")
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr().out
    drill = RestoreDrill.objects.order_by("-id").first()
    assert (code == 0) == (drill.status == DrillStatus.PASSED)
    return drill, out


def test_create_then_drill_passes_with_row_counts_matching_table_by_table(some_rows, backup_folder, capsys):
    before = _scratch_databases()
    run = _create(backup_folder, capsys)
    tables = run.manifest["tables"]
    assert tables["governance_service"]["rows"] >= 5 and len(tables["governance_service"]["sha256"]) == 64
    assert run.sha256 == executors.file_sha256(run.location)

    drill, out = _drill(capsys)

    assert drill.status == DrillStatus.PASSED, drill.failure_reason
    assert "PASSED" in out and "measured RTO" in out
    checks = {c.name: c for c in drill.checks.all()}
    assert checks["file checksum"].passed and checks["restore"].passed and checks["canary query"].passed
    counts = checks["row counts"]
    assert counts.passed and counts.detail == ""
    assert counts.expected == counts.actual  # the same total over the same tables
    assert checks["content hashes"].passed
    assert drill.measured_rto_seconds == pytest.approx((drill.verified_at - drill.started_at).total_seconds())
    assert drill.achieved_rpo_seconds == pytest.approx((drill.started_at - run.recovery_point_at).total_seconds())
    assert drill.rto_met and drill.rpo_met and drill.backup_run == run
    assert drill.scratch_name
    _assert_scratch_gone(drill, before)


def test_one_corrupted_byte_fails_the_checksum_check(some_rows, backup_folder, capsys, backup_sink):
    before = _scratch_databases()
    run = _create(backup_folder, capsys)
    path = Path(run.location)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    drill, out = _drill(capsys)

    assert drill.status == DrillStatus.FAILED
    checks = {c.name: c for c in drill.checks.all()}
    assert checks["file checksum"].passed is False
    assert checks["file checksum"].expected == run.sha256
    assert "file checksum" in drill.failure_reason and "FAILED" in out
    from tests.backups.conftest import notifications

    assert len(notifications("drill.failed")) == 1
    _assert_scratch_gone(drill, before)


def test_manifest_disagreeing_with_restored_rows_fails_the_row_count_check(some_rows, backup_folder, capsys):
    before = _scratch_databases()
    run = _create(backup_folder, capsys)
    manifest = run.manifest
    manifest["tables"]["governance_service"]["rows"] += 1
    BackupRun.objects.filter(pk=run.pk).update(manifest=manifest)

    drill, _ = _drill(capsys)

    assert drill.status == DrillStatus.FAILED
    counts = drill.checks.get(name="row counts")
    assert counts.passed is False
    assert "governance_service" in counts.detail
    assert drill.checks.get(name="restore").passed is True
    assert drill.scratch_name
    _assert_scratch_gone(drill, before)


def test_a_restore_that_fails_still_drops_the_scratch_database(some_rows, backup_folder, capsys):
    before = _scratch_databases()
    run = _create(backup_folder, capsys)
    path = Path(run.location)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])  # truncated file, checksum updated to match
    BackupRun.objects.filter(pk=run.pk).update(sha256=executors.file_sha256(path))

    drill, _ = _drill(capsys)

    assert drill.status == DrillStatus.FAILED
    assert drill.checks.get(name="restore").passed is False
    _assert_scratch_gone(drill, before)


@contextlib.contextmanager
def _empty_database(tmp_path):
    database = executors.default_database()
    if database.vendor == "sqlite":
        path = tmp_path / "restored.sqlite3"
        yield executors.Database("sqlite", str(path)), f"sqlite:///{path}"
        return
    from psycopg import sql

    name = f"vigil_restore_test_{secrets.token_hex(4)}"
    with contextlib.closing(database.connect(dbname="postgres")) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        auth = database.user + (f":{database.password}" if database.password else "")
        yield (
            database.with_name(name),
            f"postgres://{auth}@{database.host or '127.0.0.1'}:{database.port or 5432}/{name}",
        )
    finally:
        with contextlib.closing(database.connect(dbname="postgres")) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_restore_into_an_empty_database_restores_every_row(some_rows, backup_folder, capsys, tmp_path):
    run = _create(backup_folder, capsys)
    with _empty_database(tmp_path) as (database, url):
        call_command("ops_backup", "restore", run.location, "--database-url", url, "--quiet")
        out = capsys.readouterr().out
        restored = executors.table_manifest(database, hashes=True)

        assert "counts match the manifest" in out
        assert restored == run.manifest["tables"]  # every table: same row count and same content hash


def test_restore_refuses_a_non_empty_database_without_force(some_rows, backup_folder, capsys, tmp_path):
    run = _create(backup_folder, capsys)
    with pytest.raises(CommandError, match="not empty"):
        call_command("ops_backup", "restore", run.location, "--quiet")
    with _empty_database(tmp_path) as (database, url):
        call_command("ops_backup", "restore", run.location, "--database-url", url, "--quiet")
        with pytest.raises(CommandError, match="--force"):
            call_command("ops_backup", "restore", run.location, "--database-url", url, "--quiet")
        call_command("ops_backup", "restore", run.location, "--database-url", url, "--force", "--quiet")
        assert executors.table_manifest(database, hashes=True) == run.manifest["tables"]


def test_verify_reports_a_good_file_ok_and_a_corrupted_one_failed(some_rows, backup_folder, capsys):
    run = _create(backup_folder, capsys)
    call_command("ops_backup", "verify", run.location, "--quiet")
    assert ": OK," in capsys.readouterr().out
    path = Path(run.location)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SystemExit):
        call_command("ops_backup", "verify", run.location, "--quiet")
    assert "FAILED" in capsys.readouterr().out


def test_daily_scheduler_runs_the_automated_drill_of_a_due_target(some_rows, backup_folder, capsys, monkeypatch):
    from backups import tasks
    from backups.models import BackupTarget

    run = _create(backup_folder, capsys)
    BackupTarget.objects.filter(pk=run.target_id).update(created_at=run.started_at - dt.timedelta(days=1))
    queued = []
    monkeypatch.setattr(tasks.run_automated_drill, "delay", lambda pk: queued.append(pk))

    tasks.drill_scheduler()  # the scheduled job, as beat runs it

    drill = RestoreDrill.objects.get()
    assert queued == [drill.pk] and drill.status == DrillStatus.SCHEDULED and drill.mode == "automated"
    assert tasks.run_automated_drill(drill.pk) == f"drill {drill.pk} passed"
    assert tasks.run_automated_drill(drill.pk) == "nothing to do"  # delivered twice: harmless
    drill.refresh_from_db()
    assert drill.status == DrillStatus.PASSED and drill.backup_run == run
