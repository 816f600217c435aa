"""Backup runs and restore drills in the evidence bundle, mapped to SOC 2 A1.2 / A1.3 and ISO 27001 A.8.13."""

import csv
import datetime as dt
import io
import json
import zipfile

import pytest
import time_machine

from backups.choices import RunStatus
from backups.registrations import export_runs
from backups.services import backup_run_report
from governance.evidence import export_evidence

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 3, 10)
NINE = dt.datetime.combine(DAY, dt.time(9), tzinfo=dt.UTC)


def _report(target, at: dt.datetime, **fields):
    with time_machine.travel(at + dt.timedelta(minutes=30), tick=False):
        values = {
            "status": RunStatus.SUCCEEDED,
            "started_at": at,
            "finished_at": at + dt.timedelta(minutes=20),
            "external_id": f"main/{at:%Y%m%d-%H%M%S}F",
        }
        return backup_run_report(target=target, **{**values, **fields})[0]


def _bundle(start: dt.date, end: dt.date) -> zipfile.ZipFile:
    out = io.BytesIO()
    export_evidence(start=start, end=end, out=out)
    return zipfile.ZipFile(io.BytesIO(out.getvalue()))


def test_a_bundle_holds_the_backup_runs_of_its_period(target):
    run = _report(
        target,
        NINE,
        tool="pgbackrest",
        size_bytes=123_456_789,
        sha256="ab" * 32,
        location="s3://backups/payments-db/20260310",
        recovery_point_detail="WAL 000000010000000A000000FF",
    )
    with _bundle(DAY, DAY) as bundle:
        (row,) = csv.DictReader(io.StringIO(bundle.read("backup_runs.csv").decode()))
        (record,) = [json.loads(line) for line in bundle.read("backup_runs.jsonl").splitlines()]
        manifest = json.loads(bundle.read("manifest.json"))
    assert row["id"] == str(run.pk) and record["id"] == run.pk
    assert record["target"] == "payments-db"
    assert record["external_id"] == "main/20260310-090000F"
    assert (record["tool"], record["status"], record["size_bytes"]) == ("pgbackrest", "succeeded", 123_456_789)
    assert record["sha256"] == "ab" * 32
    assert record["started_at"] == NINE.isoformat()
    assert record["finished_at"] == record["recovery_point_at"] == (NINE + dt.timedelta(minutes=20)).isoformat()
    assert record["recovery_point_detail"] == "WAL 000000010000000A000000FF"
    entry = next(f for f in manifest["files"] if f["path"] == "backup_runs.csv")
    assert entry["rows"] == 1


def test_runs_outside_the_period_are_left_out_and_the_rest_come_in_start_order(target):
    late = _report(target, NINE + dt.timedelta(hours=10))
    early = _report(target, NINE)
    _report(target, NINE + dt.timedelta(days=1))  # the next day: another period's evidence
    _report(target, NINE - dt.timedelta(days=1))
    start = dt.datetime.combine(DAY, dt.time.min, tzinfo=dt.UTC)
    columns, rows = export_runs(start, start + dt.timedelta(days=1))
    assert [row[columns.index("id")] for row in rows] == [early.pk, late.pk]


def test_the_control_map_sends_a1_2_a1_3_and_a_8_13_to_the_backup_files(target):
    _report(target, NINE)
    with _bundle(DAY, DAY) as bundle:
        controls = json.loads(bundle.read("manifest.json"))["controls"]
    assert {"backup_runs.csv", "backup_runs.jsonl"} <= set(controls["SOC 2 A1.2"])
    assert {"backup_restore_drills.csv", "backup_restore_drills.jsonl"} <= set(controls["SOC 2 A1.3"])
    assert {"backup_runs.csv", "backup_restore_drills.csv"} <= set(controls["ISO 27001 A.8.13"])
    assert "A.8.13" not in controls
