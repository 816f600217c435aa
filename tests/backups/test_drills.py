"""Restore drills: figures computed from timestamps, the runbook followed, sign-off by a second person,
scheduling and overdue drills, and the kernel registrations (scorecard, gate, status, metrics)."""

import datetime as dt

import pytest
import time_machine

from backups import registrations
from backups.choices import DrillMode, DrillStatus, RunStatus
from backups.models import RestoreDrill
from backups.services import (
    backup_run_report,
    drill_add_check,
    drill_complete,
    drill_mark_restored,
    drill_sign_off,
    drill_start,
    drills_schedule_due,
    rpo_monitor,
)
from governance.errors import Conflict
from governance.registries import gate_checks, scorecard_dimensions

from .conftest import notifications

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
RUNBOOK = """Restore the payments database.

## Step 1: Fetch the backup
```sh
pgbackrest --stanza=main restore --delta
```
Expected: the restore completes.

## Step 2: Check the data
Count the orders of yesterday.
"""


@pytest.fixture
def good_run(target):
    with time_machine.travel(T0, tick=False):
        return backup_run_report(
            target=target,
            status=RunStatus.SUCCEEDED,
            started_at=T0 - dt.timedelta(minutes=10),
            finished_at=T0 - dt.timedelta(minutes=5),
            external_id="main/20261123-085000F",
        )[0]


@pytest.fixture
def restore_runbook(service, target):
    from runbooks.services import runbook_create, version_publish

    runbook = runbook_create(slug="restore-payments", title="Restore payments DB", service=service, body=RUNBOOK)
    version_publish(version=runbook.versions.get(), approval_label="test")
    runbook.refresh_from_db()
    target.restore_runbook = runbook
    target.save()
    return runbook


def test_manual_drill_follows_the_runbook_and_computes_its_figures(target, good_run, ops_admin, restore_runbook):
    with time_machine.travel(T0 + dt.timedelta(minutes=20), tick=False):
        drill = drill_start(target=target, actor=ops_admin)
    assert drill.runbook_version == restore_runbook.current_version
    execution = drill.runbook_execution
    assert execution.purpose == "drill" and execution.version == restore_runbook.current_version
    with time_machine.travel(T0 + dt.timedelta(minutes=35), tick=False):
        drill_mark_restored(drill=drill, actor=ops_admin)
        drill_add_check(drill=drill, name="orders of yesterday", passed=True, expected="1204", actual="1204")
    with time_machine.travel(T0 + dt.timedelta(minutes=45), tick=False):
        drill = drill_complete(drill=drill, actor=ops_admin)
    assert drill.status == DrillStatus.PASSED
    assert drill.measured_rto_seconds == 25 * 60  # verified − started
    assert drill.achieved_rpo_seconds == 25 * 60  # drill start − the backup's recovery point (its finish)
    assert (drill.rto_target_minutes, drill.rpo_target_minutes) == (30, 60)
    assert drill.rto_met and drill.rpo_met
    assert ops_admin in drill.participants.all()


def test_missing_the_rto_fails_the_drill_and_notifies(target, good_run, ops_admin, backup_sink):
    with time_machine.travel(T0, tick=False):
        drill = drill_start(target=target, actor=ops_admin)
        drill_mark_restored(drill=drill)
        drill_add_check(drill=drill, name="canary", passed=True)
    with time_machine.travel(T0 + dt.timedelta(minutes=31), tick=False):
        drill = drill_complete(drill=drill)
    assert drill.status == DrillStatus.FAILED and drill.rto_met is False
    assert "RTO missed" in drill.failure_reason
    assert len(notifications("drill.failed")) == 1


def test_targets_are_copied_at_drill_time(target, good_run, ops_admin):
    with time_machine.travel(T0, tick=False):
        drill = drill_start(target=target, actor=ops_admin)
    target.rto_minutes = 5
    target.save()
    drill.refresh_from_db()
    assert drill.rto_target_minutes == 30


def test_sign_off_needs_a_second_person(target, good_run, ops_admin, second_admin):
    with time_machine.travel(T0, tick=False):
        drill = drill_start(target=target, actor=ops_admin)
        drill_mark_restored(drill=drill)
        drill_add_check(drill=drill, name="canary", passed=True)
        drill = drill_complete(drill=drill)
    with pytest.raises(Conflict, match="second person"):
        drill_sign_off(drill=drill, actor=ops_admin)
    drill = drill_sign_off(drill=drill, actor=second_admin, findings="Step 1 took longest.")
    assert drill.signed_off_by == second_admin and drill.findings == "Step 1 took longest."
    with pytest.raises(Conflict):
        drill_sign_off(drill=drill, actor=second_admin)


def test_a_drill_cannot_be_verified_without_checks(target, good_run, ops_admin):
    drill = drill_start(target=target, actor=ops_admin)
    drill_mark_restored(drill=drill)
    with pytest.raises(Conflict, match="no checks"):
        drill_complete(drill=drill)


def test_scheduler_schedules_due_drills_once_and_flags_overdue_once(target, good_run, backup_sink):
    type(target).objects.filter(pk=target.pk).update(created_at=T0 - dt.timedelta(days=1))
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        assert drills_schedule_due()["scheduled"] == 1
        assert drills_schedule_due()["scheduled"] == 0  # an open drill exists
    drill = RestoreDrill.objects.get(target=target)
    assert drill.status == DrillStatus.SCHEDULED and drill.mode == DrillMode.MANUAL
    for days in (8, 9):
        with time_machine.travel(T0 + dt.timedelta(days=days), tick=False):
            drills_schedule_due()
    drill.refresh_from_db()
    assert drill.status == DrillStatus.OVERDUE
    assert len(notifications("drill.overdue")) == 1


def test_a_passed_drill_makes_the_next_due_after_the_interval(target, good_run, ops_admin):
    from backups.selectors import next_drill_due_by_target

    with time_machine.travel(T0, tick=False):
        drill = drill_start(target=target, actor=ops_admin)
        drill_mark_restored(drill=drill)
        drill_add_check(drill=drill, name="canary", passed=True)
        drill_complete(drill=drill)
    assert next_drill_due_by_target([target])[target.pk] == T0 + dt.timedelta(days=90)


def test_scorecard_dimension_counts_freshness_and_drills(target, good_run, ops_admin):
    dimension = scorecard_dimensions.get("backups")
    assert dimension.title == "Backup verification"
    with time_machine.travel(T0 + dt.timedelta(minutes=1), tick=False):
        result = dimension.score()
    assert result["score"] == 50  # within RPO, never drilled
    with time_machine.travel(T0 + dt.timedelta(minutes=1), tick=False):
        drill = drill_start(target=target, actor=ops_admin)
        drill_mark_restored(drill=drill)
        drill_add_check(drill=drill, name="canary", passed=True)
        drill_complete(drill=drill)
        assert dimension.score()["score"] == 100


def test_gate_refuses_a_service_in_rpo_breach(target, good_run, service):
    check = gate_checks.get("rpo_breach")
    assert check.check(service, "production", "1.2.3", T0) == []
    rpo_monitor(now=T0 + dt.timedelta(hours=2))
    reasons = check.check(service, "production", "1.2.3", T0 + dt.timedelta(hours=2))
    assert [r.code for r in reasons] == ["rpo_breach"]
    assert reasons[0].details["target"] == target.slug


def test_status_lines_and_gauges_show_breaches_and_due_drills(target, good_run):
    rpo_monitor(now=dt.datetime.now(tz=dt.UTC) + dt.timedelta(hours=2))
    lines = {line.name: line for line in registrations.status_lines()}
    assert lines["backups:rpo"].status == "critical"
    assert lines["backups:drills"].status == "warning"  # never drilled: due
    assert list(registrations.rpo_breach_samples()) == [({}, 1)]
    assert list(registrations.overdue_drill_samples()) == [({}, 1)]


def test_demo_seeder_is_idempotent(db):
    import io

    from governance.demo import seed_kernel

    out = io.StringIO()
    seed_kernel(out)
    registrations.seed(out)
    registrations.seed(out)
    assert "already there" in out.getvalue()
    assert RestoreDrill.objects.filter(status=DrillStatus.PASSED, signed_off_by__isnull=False).count() == 1


def test_evidence_keeps_the_sha256_of_the_bytes_received(target, good_run, ops_admin, settings, tmp_path):
    import hashlib

    from django.core.files.uploadedfile import SimpleUploadedFile

    from backups.services import drill_add_evidence

    settings.MEDIA_ROOT = tmp_path
    drill = drill_start(target=target, actor=ops_admin)
    content = b"restore log: 1204 rows\n"
    evidence = drill_add_evidence(drill=drill, file=SimpleUploadedFile("restore.log", content), actor=ops_admin)
    assert evidence.sha256 == hashlib.sha256(content).hexdigest() and evidence.size_bytes == len(content)
    assert evidence.file.read() == content
