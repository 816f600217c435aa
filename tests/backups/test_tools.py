"""The backup tools' own output becomes runs: the real restic, recorded pgBackRest / WAL-G / Barman output."""

import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import asdict
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from backups.choices import RunKind, RunStatus
from backups.models import BackupRun
from backups.services import backup_tool_report
from backups.tools import RunReport, parse
from governance.errors import ValidationFailed
from tests.conftest import ROOT, need, test_database_env
from tests.strategies import EPOCHS, TIMES, epoch_time, rfc3339, shuffled

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


# --- round trips: a generated tool output parses into exactly the values it was made of ------------------

HEX = "0123456789abcdef"
WAL = st.text("0123456789ABCDEF", min_size=24, max_size=24)
# Any unicode but NUL (no tool prints one): stanza, server, host and path names are the operator's.
STORABLE = st.characters(exclude_characters="\x00")
NAMES = st.text(STORABLE, max_size=30)


def _expected(**values) -> dict:
    report = RunReport(**values)
    report.external_id = report.external_id[:200]
    return asdict(report)


@st.composite
def restic_snapshots(draw) -> tuple[list, list]:
    ids = draw(st.lists(st.text(HEX, min_size=64, max_size=64), max_size=4, unique_by=lambda i: i[:8]))
    snapshots, expected = [], []
    for snapshot_id in ids:
        moment = draw(TIMES)
        paths = draw(st.lists(st.text(STORABLE, min_size=1, max_size=20), min_size=1, max_size=3))
        snapshot = {
            "time": draw(rfc3339(moment)),
            "tree": draw(st.text(HEX, min_size=64, max_size=64)),
            "paths": paths,
            "hostname": draw(NAMES),
            "username": draw(NAMES),
            "id": snapshot_id,
            "short_id": snapshot_id[:8],
        }
        parent = draw(st.none() | st.text(HEX, min_size=64, max_size=64))
        if parent:
            snapshot["parent"] = parent
        started = finished = moment
        size = None
        if draw(st.booleans()):  # restic 0.17+ keeps the backup's summary in the snapshot
            finished = moment + draw(st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=2)))
            size = draw(st.integers(0, 2**50))
            snapshot["summary"] = {
                "backup_start": draw(rfc3339(moment)),
                "backup_end": draw(rfc3339(finished)),
                "total_bytes_processed": size,
                "files_new": draw(st.integers(0, 10**6)),
            }
        snapshots.append(snapshot)
        expected.append(
            _expected(
                external_id=snapshot_id[:8],
                status=RunStatus.SUCCEEDED,
                kind=RunKind.INCREMENTAL if parent else RunKind.FULL,
                started_at=started,
                finished_at=finished,
                recovery_point_at=moment,
                recovery_point_detail=", ".join(paths)[:200],
                size_bytes=size,
                location=f"{snapshot['hostname']}:{','.join(paths)}"[:1000],
                raw=snapshot,
            )
        )
    return snapshots, expected


@st.composite
def pgbackrest_infos(draw) -> tuple[list, list]:
    stanzas, expected, seen = [], [], set()
    for name in draw(st.lists(NAMES, min_size=1, max_size=2, unique=True)):
        backups = []
        for label in draw(st.lists(st.text(STORABLE, min_size=1, max_size=40), max_size=3, unique=True)):
            external_id = f"{name}/{label}" if name else label
            if external_id[:200] in seen:
                continue
            seen.add(external_id[:200])
            start = draw(EPOCHS)
            stop = start + draw(st.integers(0, 86_400))
            delta, size = draw(st.integers(0, 2**40)), draw(st.integers(0, 2**40))
            wal_start, wal_stop, kind = draw(WAL), draw(WAL), draw(st.sampled_from(["full", "diff", "incr"]))
            error = draw(st.booleans())
            backup = {
                "archive": {"start": wal_start, "stop": wal_stop},
                "backrest": {"format": 5, "version": "2.45"},
                "error": error,
                "info": {"delta": size, "repository": {"delta": delta, "size": size}, "size": size},
                "label": label,
                "timestamp": {"start": start, "stop": stop},
                "type": kind,
            }
            backups.append(backup)
            expected.append(
                _expected(
                    external_id=external_id,
                    status=RunStatus.FAILED if error else RunStatus.SUCCEEDED,
                    kind={"full": RunKind.FULL, "diff": RunKind.DIFFERENTIAL, "incr": RunKind.INCREMENTAL}[kind],
                    started_at=epoch_time(start),
                    finished_at=epoch_time(stop),
                    recovery_point_at=epoch_time(stop),
                    recovery_point_detail=f"WAL {wal_start}-{wal_stop}",
                    size_bytes=delta,
                    location=f"pgbackrest:{name}/{label}",
                    raw=backup,
                    error="pgBackRest marked the backup with errors (checksum or page errors)." if error else "",
                )
            )
        stanzas.append({"name": name, "status": {"code": 0, "message": "ok"}, "backup": backups})
    return stanzas, expected


@st.composite
def walg_backup_lists(draw) -> tuple[list, list]:
    backups, expected = [], []
    names = draw(st.lists(st.tuples(WAL, st.none() | WAL), max_size=4, unique=True))
    for wal, base in names:
        name = f"base_{wal}" + (f"_D_{base}" if base else "")
        started = draw(TIMES)
        finished = started + draw(st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(hours=6)))
        start_lsn = draw(st.integers(0, 2**63))
        finish_lsn = start_lsn + draw(st.integers(0, 2**20))
        storage = draw(st.sampled_from(["default", ""]) | NAMES)
        compressed = draw(st.integers(0, 2**50))
        backup = {
            "backup_name": name,
            "time": draw(rfc3339(finished)),
            "wal_file_name": wal,
            "storage_name": storage,
            "start_time": draw(rfc3339(started)),
            "finish_time": draw(rfc3339(finished)),
            "hostname": draw(NAMES),
            "data_dir": draw(NAMES),
            "pg_version": 150005,
            "start_lsn": start_lsn,
            "finish_lsn": finish_lsn,
            "is_permanent": draw(st.booleans()),
            "uncompressed_size": compressed * 3,
            "compressed_size": compressed,
        }
        backups.append(backup)
        expected.append(
            _expected(
                external_id=name,
                status=RunStatus.SUCCEEDED,
                kind=RunKind.INCREMENTAL if base else RunKind.FULL,
                started_at=started,
                finished_at=finished,
                recovery_point_at=finished,
                recovery_point_detail=f"WAL {wal} LSN {start_lsn}-{finish_lsn}"[:200],
                size_bytes=compressed,
                location=f"wal-g:{storage or 'default'}/{name}",
                raw=backup,
            )
        )
    return backups, expected


BARMAN_STATUSES = {"DONE": RunStatus.SUCCEEDED, "WAITING_FOR_WALS": RunStatus.SUCCEEDED}
BARMAN_STATUSES |= {"FAILED": RunStatus.FAILED, "STARTED": RunStatus.RUNNING}


@st.composite
def barman_outputs(draw) -> tuple[dict, list]:
    """`list-backups` (a list per server) or `show-backup` (one backup with its base backup information)."""
    show = draw(st.booleans())
    servers, expected = {}, []
    for server in draw(st.lists(st.text(STORABLE, min_size=1, max_size=20), min_size=1, max_size=2, unique=True)):
        begins = draw(st.lists(EPOCHS, min_size=1, max_size=1 if show else 3, unique=True))
        backups = []
        for begin in begins:
            backup_id = epoch_time(begin).strftime("%Y%m%dT%H%M%S")
            status_text = draw(st.sampled_from(sorted(BARMAN_STATUSES)))
            status = BARMAN_STATUSES[status_text]
            end = begin + draw(st.integers(0, 86_400)) if status == RunStatus.SUCCEEDED else None
            size = draw(st.integers(0, 2**50))
            backup = {"backup_id": backup_id, "status": status_text}
            if draw(st.booleans()):
                backup["backup_type"] = draw(st.sampled_from(["full", "incremental", "rsync"]))
            if status == RunStatus.FAILED:
                backup["error"] = draw(st.text(STORABLE, max_size=40))
            if show:
                begin_wal, end_wal = draw(WAL), draw(WAL)
                backup["base_backup_information"] = {
                    "disk_usage_bytes": size,
                    "begin_wal": begin_wal,
                    "end_wal": end_wal,
                    "begin_time_timestamp": str(begin),
                    **({"end_time_timestamp": str(end)} if end is not None else {}),
                }
                started, detail = epoch_time(begin), f"WAL {begin_wal}-{end_wal}"
            else:
                backup["size_bytes"] = size
                if end is not None:
                    backup["end_time_timestamp"] = str(end)
                # list-backups prints no begin time: the end, or for a backup without one, its id.
                started, detail = epoch_time(end if end is not None else begin), ""
            backups.append(backup)
            finished = epoch_time(end) if end is not None else None
            expected.append(
                _expected(
                    external_id=f"{server}/{backup_id}",
                    status=status,
                    kind=RunKind.INCREMENTAL if backup.get("backup_type") == "incremental" else RunKind.FULL,
                    started_at=started,
                    finished_at=finished,
                    recovery_point_at=finished if status == RunStatus.SUCCEEDED else None,
                    recovery_point_detail=detail,
                    size_bytes=size,
                    location=f"barman:{server}/{backup_id}",
                    raw=backup,
                    error=backup.get("error", ""),
                )
            )
        servers[server] = backups[0] if show else backups
    return servers, expected


GENERATED = {
    "restic": restic_snapshots(),
    "pgbackrest": pgbackrest_infos(),
    "walg": walg_backup_lists(),
    "barman": barman_outputs(),
}


def _reports(tool: str, text) -> list[dict]:
    return sorted((asdict(report) for report in parse(tool, text)), key=lambda report: report["external_id"])


@settings(max_examples=60)
@given(data=st.data(), tool=st.sampled_from(sorted(GENERATED)))
def test_generated_tool_output_parses_into_exactly_its_values(data, tool):
    document, expected = data.draw(GENERATED[tool])
    assert _reports(tool, json.dumps(document)) == sorted(expected, key=lambda report: report["external_id"])


def _reordered(document, draw):
    """The same backups listed in another order, with every object's keys in another order."""
    if isinstance(document, list):
        document = [_reordered(item, draw) for item in draw(st.permutations(document))]
    elif isinstance(document, dict) and "backup" in document:
        document = {**document, "backup": draw(st.permutations(document["backup"]))}
    return shuffled(document, draw)


@settings(max_examples=60)
@given(
    data=st.data(),
    tool=st.sampled_from(sorted(GENERATED)),
    indent=st.sampled_from([None, 1, 4, "\t"]),
    padding=st.sampled_from(["", "\n", "\r\n", "  \n\n"]),
)
def test_order_layout_and_escaping_never_change_the_runs(data, tool, indent, padding):
    document, _ = data.draw(GENERATED[tool])
    again = json.dumps(_reordered(document, data.draw), indent=indent, ensure_ascii=data.draw(st.booleans()))
    assert _reports(tool, padding + again + padding) == _reports(tool, json.dumps(document))
    assert _reports(tool, (again + padding).encode()) == _reports(tool, json.dumps(document))


@settings(max_examples=40)
@given(data=st.data())
def test_restic_backup_stream_gives_its_summary_however_the_lines_are_spaced(data):
    start = data.draw(TIMES)
    end = start + data.draw(st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(hours=10)))
    snapshot_id = data.draw(st.text(HEX, min_size=64, max_size=64))
    size = data.draw(st.integers(0, 2**50))
    unmodified = data.draw(st.integers(0, 1000))
    status_lines = [
        {"message_type": "status", "percent_done": fraction, "current_files": data.draw(st.lists(NAMES, max_size=2))}
        for fraction in data.draw(st.lists(st.floats(0, 1), max_size=5))
    ]
    summary = {
        "message_type": "summary",
        "files_new": 3,
        "files_unmodified": unmodified,
        "dirs_unmodified": 0,
        "total_bytes_processed": size,
        "backup_start": data.draw(rfc3339(start)),
        "backup_end": data.draw(rfc3339(end)),
        "snapshot_id": snapshot_id,
    }
    separator = data.draw(st.sampled_from(["\n", "\r\n", "\n\n", "\n  \n"]))
    stream = separator.join(json.dumps(line) for line in [*status_lines, summary]) + separator
    (report,) = parse("restic", stream)
    assert asdict(report) == _expected(
        external_id=snapshot_id[:8],
        status=RunStatus.SUCCEEDED,
        kind=RunKind.INCREMENTAL if unmodified else RunKind.FULL,
        started_at=start,
        finished_at=end,
        recovery_point_at=start,
        size_bytes=size,
        raw=summary,
    )


@settings(max_examples=150)
@given(
    data=st.data(),
    tool=st.sampled_from(sorted(GENERATED)),
    how=st.sampled_from(["cut", "bytes", "text"]),
)
def test_garbled_tool_output_is_refused_naming_the_body(data, tool, how):
    """Cut-off output, random bytes or random text: parsed, or a 400-level wrong_format about `body`."""
    if how == "cut":
        document, _ = data.draw(GENERATED[tool])
        text = json.dumps(document)
        garbled = text[: data.draw(st.integers(0, max(len(text) - 1, 0)))]
    elif how == "bytes":
        garbled = data.draw(st.binary(max_size=200))
    else:
        garbled = data.draw(st.text(max_size=200))
    try:
        reports = parse(tool, garbled)
    except ValidationFailed as exc:
        (field,) = exc.fields
        assert exc.code == "wrong_format" and exc.fields[field] and (field == "body" or field.startswith("body."))
    else:
        assert all(report.external_id and report.started_at.tzinfo for report in reports)


def _text_paths(value, keys=()):
    """The keys leading to every string in a JSON document (object keys themselves excluded)."""
    if isinstance(value, str):
        yield keys
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        yield from _text_paths(child, (*keys, key))


def _put(document, keys: tuple, text: str):
    *parents, last = keys
    for key in parents:
        document = document[key]
    document[last] = text


@settings(max_examples=40)
@given(data=st.data(), tool=st.sampled_from(sorted(GENERATED)), bad=st.sampled_from(["\x00", "\ud800", "\udfff"]))
def test_text_postgresql_cannot_store_is_refused_naming_where_it_is(data, tool, bad):
    document, _ = data.draw(GENERATED[tool])
    paths = list(_text_paths(document))
    assume(paths)
    path = data.draw(st.sampled_from(paths))
    _put(document, path, data.draw(st.text(STORABLE, max_size=5)) + bad)
    with pytest.raises(ValidationFailed) as caught:
        parse(tool, json.dumps(document))
    assert caught.value.code == "wrong_format"
    assert list(caught.value.fields) == ["body." + ".".join(map(str, path))]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), tool=st.sampled_from(sorted(GENERATED)))
def test_reporting_generated_output_again_in_any_order_changes_nothing(make_target, data, tool):
    target = make_target(slug=f"prop-{uuid.uuid4().hex[:12]}")
    document, expected = data.draw(GENERATED[tool])
    assert backup_tool_report(target=target, tool=tool, data=json.dumps(document)) == {
        "created": len(expected),
        "updated": 0,
        "unchanged": 0,
    }
    again = json.dumps(_reordered(document, data.draw), indent=2)
    assert backup_tool_report(target=target, tool=tool, data=again) == {
        "created": 0,
        "updated": 0,
        "unchanged": len(expected),
    }
    stored = {run.external_id: run for run in BackupRun.objects.filter(target=target)}
    assert sorted(stored) == sorted(report["external_id"] for report in expected)
    for report in expected:
        run = stored[report["external_id"]]
        assert (run.status, run.kind, run.started_at, run.size_bytes) == (
            report["status"],
            report["kind"],
            report["started_at"],
            report["size_bytes"],
        )


@pytest.mark.parametrize("tool", sorted(GENERATED))
def test_output_nested_thousands_deep_is_refused_not_a_crash(tool):
    """Python's JSON decoder raises RecursionError, not ValueError, on `[[[[…`: it is wrong output all the same."""
    with pytest.raises(ValidationFailed) as caught:
        parse(tool, "[" * 100_000)
    assert caught.value.code == "wrong_format" and "body" in caught.value.fields
