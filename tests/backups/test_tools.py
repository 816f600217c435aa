"""The backup tools' own output becomes runs: the real restic, recorded pgBackRest / WAL-G / Barman output."""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backups.choices import RunKind, RunStatus
from backups.models import BackupRun
from backups.services import backup_tool_report
from backups.tools import parse
from governance.errors import ValidationFailed
from tests.conftest import ROOT, need, test_database_env

SAMPLES = Path(__file__).parent / "samples"
RESTIC = shutil.which("restic") or "/usr/bin/restic"


@pytest.fixture
def restic_repo(tmp_path):
    need(Path(RESTIC).exists(), "restic is not installed")
    env = {**os.environ, "RESTIC_REPOSITORY": str(tmp_path / "repo"), "RESTIC_PASSWORD": "drill-test-password"}
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("alpha\n" * 100)
    (data / "b.bin").write_bytes(os.urandom(4096))
    subprocess.run([RESTIC, "init"], env=env, check=True, capture_output=True)

    def backup(*extra) -> str:
        result = subprocess.run(
            [RESTIC, "backup", "--json", *extra, str(data)], env=env, check=True, capture_output=True, text=True
        )
        return result.stdout

    def snapshots() -> str:
        return subprocess.run(
            [RESTIC, "snapshots", "--json"], env=env, check=True, capture_output=True, text=True
        ).stdout

    return env, data, backup, snapshots


def _stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_restic_snapshots_reported_twice_are_one_run_each(restic_repo, target, monkeypatch, capsys):
    _, data, backup, snapshots = restic_repo
    backup()
    (data / "c.txt").write_text("new file\n")
    backup()
    output = snapshots()
    ids = [snap["short_id"] for snap in json.loads(output)]
    assert len(ids) == 2

    _stdin(monkeypatch, output)
    call_command("report_backup_run", "--target", target.slug, "--format", "restic", "-")
    assert "2 created, 0 updated, 0 unchanged" in capsys.readouterr().out
    _stdin(monkeypatch, output)
    call_command("report_backup_run", "--target", target.slug, "--format", "restic", "-")
    assert "0 created, 0 updated, 2 unchanged" in capsys.readouterr().out

    runs = BackupRun.objects.filter(target=target).order_by("started_at")
    assert sorted(run.external_id for run in runs) == sorted(ids)
    assert all(run.status == RunStatus.SUCCEEDED and run.tool == "restic" for run in runs)
    target.refresh_from_db()
    assert target.last_success_at == max(run.recovery_point_at for run in runs)


def test_restic_backup_json_summary_line_is_a_run(restic_repo, target):
    _, _, backup, snapshots = restic_repo
    output = backup()
    summary = next(json.loads(line) for line in output.splitlines() if '"summary"' in line)

    counts = backup_tool_report(target=target, tool="restic", data=output)

    assert counts == {"created": 1, "updated": 0, "unchanged": 0}
    run = BackupRun.objects.get(target=target)
    assert run.external_id == summary["snapshot_id"]
    assert run.size_bytes == summary["total_bytes_processed"]
    # The snapshot list later names the same snapshot: still one run.
    counts = backup_tool_report(target=target, tool="restic", data=snapshots())
    assert counts["created"] == 0 and BackupRun.objects.filter(target=target).count() == 1


@pytest.mark.django_db(transaction=True)
def test_restic_snapshots_piped_into_the_command_from_a_shell(restic_repo, target, settings):
    """The README's cron line, run as written: restic's output piped into manage.py."""
    env, _, backup, _ = restic_repo
    backup()
    report = f"{sys.executable} manage.py report_backup_run --target {target.slug} --format restic -"
    command = f"{RESTIC} snapshots --json | {report}"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=ROOT,
        env={**test_database_env(settings), **{k: env[k] for k in ("RESTIC_REPOSITORY", "RESTIC_PASSWORD")}},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "1 created" in result.stdout
    assert BackupRun.objects.filter(target=target, tool="restic").count() == 1


def test_pgbackrest_info_gives_every_backup_with_type_times_and_wal_range(target):
    counts = backup_tool_report(target=target, tool="pgbackrest", data=(SAMPLES / "pgbackrest_info.json").read_text())
    assert counts == {"created": 2, "updated": 0, "unchanged": 0}
    full, incr = BackupRun.objects.filter(target=target).order_by("started_at")
    assert full.external_id == "main/20261123-101500F" and full.kind == RunKind.FULL
    assert incr.kind == RunKind.INCREMENTAL
    assert full.started_at.isoformat() == "2026-11-23T10:15:00+00:00"
    assert (full.finished_at - full.started_at).total_seconds() == 6
    assert full.recovery_point_detail == "WAL 000000010000000000000003-000000010000000000000003"
    assert full.size_bytes == 2955693
    again = backup_tool_report(target=target, tool="pgbackrest", data=(SAMPLES / "pgbackrest_info.json").read_text())
    assert again == {"created": 0, "updated": 0, "unchanged": 2}


def test_pgbackrest_backup_with_error_flag_is_a_failed_run(target):
    data = json.loads((SAMPLES / "pgbackrest_info.json").read_text())
    data[0]["backup"][1]["error"] = True
    backup_tool_report(target=target, tool="pgbackrest", data=json.dumps(data))
    assert BackupRun.objects.get(external_id__endswith="I").status == RunStatus.FAILED


def test_walg_backup_list_detail_gives_full_and_delta_runs(target):
    counts = backup_tool_report(target=target, tool="walg", data=(SAMPLES / "walg_backup_list.json").read_text())
    assert counts["created"] == 2
    full, delta = BackupRun.objects.filter(target=target).order_by("started_at")
    assert full.kind == RunKind.FULL and delta.kind == RunKind.INCREMENTAL
    assert full.started_at.isoformat() == "2026-11-23T09:00:01.185238+00:00"
    assert full.size_bytes == 4153360
    assert "000000010000000000000002" in full.recovery_point_detail


def test_barman_list_backups_and_show_backup_are_the_same_run(target):
    counts = backup_tool_report(target=target, tool="barman", data=(SAMPLES / "barman_list_backups.json").read_text())
    assert counts == {"created": 2, "updated": 0, "unchanged": 0}
    done = BackupRun.objects.get(external_id="pg-main/20261123T081500")
    assert done.status == RunStatus.SUCCEEDED and done.size_bytes == 38440919
    assert BackupRun.objects.get(external_id="pg-main/20261123T091500").status == RunStatus.FAILED

    counts = backup_tool_report(target=target, tool="barman", data=(SAMPLES / "barman_show_backup.json").read_text())
    assert counts == {"created": 0, "updated": 1, "unchanged": 0}  # show-backup adds begin time and WAL range
    done.refresh_from_db()
    assert done.started_at.isoformat() == "2026-11-23T08:15:00+00:00"
    assert done.recovery_point_detail == "WAL 000000010000000000000008-000000010000000000000008"


@pytest.mark.parametrize(
    ("tool", "sample"),
    [
        ("restic", "walg_backup_list.json"),
        ("pgbackrest", "barman_list_backups.json"),
        ("walg", "pgbackrest_info.json"),
        ("barman", "walg_backup_list.json"),
    ],
)
def test_output_of_another_tool_is_refused_naming_what_was_expected(tool, sample):
    with pytest.raises(ValidationFailed) as caught:
        parse(tool, (SAMPLES / sample).read_text())
    assert caught.value.code == "wrong_format"
    assert "expected" in caught.value.message
    assert "body" in caught.value.fields


def test_the_command_reports_wrong_format_as_a_command_error(target, tmp_path):
    path = tmp_path / "out.json"
    path.write_text("not json at all")
    with pytest.raises(CommandError, match="pgbackrest info --output=json"):
        call_command("report_backup_run", "--target", target.slug, "--format", "pgbackrest", str(path))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "id",
        "time",
        "backup",
        "label",
        "timestamp",
        "start",
        "stop",
        "backup_name",
        "backup_id",
        "status",
        "message_type",
        "snapshot_id",
        "start_time",
        "finish_time",
        "end_time_timestamp",
        "base_backup_information",
    ]
)
SHAPED = st.recursive(
    st.none() | st.integers() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tool=st.sampled_from(["restic", "pgbackrest", "walg", "barman"]), payload=JSON | SHAPED)
def test_any_json_is_parsed_or_refused_as_wrong_format(tool, payload):
    try:
        reports = parse(tool, json.dumps(payload))
    except ValidationFailed as exc:
        assert exc.fields
    else:
        for report in reports:
            assert report.external_id and report.started_at.tzinfo is not None
