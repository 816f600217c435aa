"""The RPO monitor: a breach notifies once, a fresh run clears it (and the clearing is recorded)."""

import datetime as dt

import pytest
import time_machine

from backups.choices import RunStatus
from backups.models import RpoBreach
from backups.services import backup_run_report, rpo_monitor
from backups.tasks import rpo_monitor as rpo_monitor_job
from governance.models import AuditEvent, JobRun
from incidents.models import Incident

from .conftest import notifications

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def _run(target, finished, external_id, status=RunStatus.SUCCEEDED):
    return backup_run_report(
        target=target,
        status=status,
        started_at=finished - dt.timedelta(minutes=2),
        finished_at=finished,
        external_id=external_id,
    )[0]


@pytest.fixture
def stale_target(make_target, backup_sink):
    with time_machine.travel(T0 - dt.timedelta(days=1), tick=False):
        target = make_target(rpo_minutes=60)
    _run(target, T0, "snap-1")
    return target


def test_61_minutes_without_a_backup_notifies_exactly_once(stale_target):
    with time_machine.travel(T0 + dt.timedelta(minutes=59), tick=False):
        assert rpo_monitor()["breached"] == 0
    for minutes in (61, 66, 71, 120):
        with time_machine.travel(T0 + dt.timedelta(minutes=minutes), tick=False):
            rpo_monitor_job()  # the scheduled job, recorded in the ledger
    assert len(notifications("backup.rpo_breached")) == 1
    breach = RpoBreach.objects.get(target=stale_target)
    assert breach.detected_at == T0 + dt.timedelta(minutes=61) and breach.cleared_at is None
    stale_target.refresh_from_db()
    assert stale_target.rpo_breached_since == breach.detected_at
    assert JobRun.objects.filter(job="backups.rpo_monitor", outcome="succeeded").count() == 4


def test_a_new_run_clears_the_breach_and_records_the_clearing(stale_target):
    with time_machine.travel(T0 + dt.timedelta(minutes=61), tick=False):
        rpo_monitor()
    with time_machine.travel(T0 + dt.timedelta(minutes=75), tick=False):
        run = _run(stale_target, T0 + dt.timedelta(minutes=74), "snap-2")
    breach = RpoBreach.objects.get(target=stale_target)
    assert breach.cleared_at == T0 + dt.timedelta(minutes=75)
    assert breach.cleared_by_run == run
    assert AuditEvent.objects.filter(action="backup_target.rpo_cleared", object_id=str(stale_target.pk)).count() == 1
    stale_target.refresh_from_db()
    assert stale_target.rpo_breached_since is None
    # A later breach is a new one, notified again.
    with time_machine.travel(T0 + dt.timedelta(minutes=74 + 61), tick=False):
        rpo_monitor()
    assert RpoBreach.objects.filter(target=stale_target).count() == 2
    assert len(notifications("backup.rpo_breached")) == 2


def test_a_stale_run_does_not_clear_the_breach(stale_target):
    with time_machine.travel(T0 + dt.timedelta(minutes=200), tick=False):
        rpo_monitor()
        _run(stale_target, T0 + dt.timedelta(minutes=30), "snap-old")  # reported late, still too old
    assert RpoBreach.objects.get(target=stale_target).cleared_at is None


def test_a_failed_run_notifies_backup_failed_once(target, backup_sink):
    run = _run(target, T0, "snap-f", status=RunStatus.FAILED)
    _run(target, T0, "snap-f", status=RunStatus.FAILED)  # reported again
    sent = notifications("backup.failed")
    assert len(sent) == 1 and str(run.pk) in sent[0].idempotency_key


def test_a_target_set_to_open_an_incident_opens_one_per_breach(make_target, backup_sink):
    with time_machine.travel(T0 - dt.timedelta(days=1), tick=False):
        target = make_target(slug="ledger", rpo_minutes=60, open_incident_on_breach=True, incident_severity="SEV1")
    with time_machine.travel(T0 + dt.timedelta(minutes=5), tick=False):
        rpo_monitor()
        rpo_monitor()
    incident = Incident.objects.get()
    assert incident.severity == "SEV1" and incident.service == target.service
    assert RpoBreach.objects.get(target=target).incident == incident
