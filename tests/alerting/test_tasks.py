"""Tasks called directly: escalation steps, the sweepers, the scheduled jobs, the retry command."""

import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from alerting import tasks
from alerting.choices import ChannelKind, EscalationStatus, EventType, NotificationStatus, StepTarget
from alerting.models import Escalation, Notification
from alerting.services import escalation_start, escalation_stop, notify
from governance.choices import JobOutcome, Severity
from governance.models import JobRun
from tests.factories import TeamFactory, UserFactory

from .factories import ChannelFactory, PolicyFactory, RotationFactory, RuleFactory, StepFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def team():
    people = [UserFactory(username=n, email=f"{n}@example.com") for n in ("pri", "sec")]
    team = TeamFactory(manager=UserFactory(username="boss", email="boss@example.com"))
    RotationFactory(team=team, members=people, shift_length=timedelta(days=7), starts_on=date(2026, 5, 4))
    return team


@pytest.fixture
def policy():
    policy = PolicyFactory(repeat=1)
    StepFactory(policy=policy, position=0, wait_minutes=0, target=StepTarget.PRIMARY)
    StepFactory(policy=policy, position=1, wait_minutes=5, target=StepTarget.SECONDARY)
    StepFactory(policy=policy, position=2, wait_minutes=10, target=StepTarget.TEAM_MANAGER)
    return policy


def _start(team, policy=None, **kwargs):
    defaults = {
        "key": "INC-7:ack",
        "event_type": EventType.INCIDENT_ACK_BREACHED,
        "subject": "INC-7 not acknowledged",
        "severity": Severity.SEV1,
        "dedup_key": "INC-7",
    }
    return escalation_start(team=team, policy=policy, **{**defaults, **kwargs})


def _step(escalation, index):
    return tasks.escalation_step(escalation.pk, index)


def _notified(escalation):
    return [n.recipient.username for n in Notification.objects.filter(escalation=escalation).order_by("pk")]


def test_escalation_uses_the_first_matching_rules_policy(team, policy):
    RuleFactory(event_types=[EventType.INCIDENT_ACK_BREACHED], escalation_policy=policy)
    with time_machine.travel(T0, tick=False):
        escalation = _start(team)
    assert escalation.policy == policy
    assert escalation.next_due_at == T0


def test_escalation_without_matching_policy_is_none(team):
    assert _start(team) is None


def test_starting_twice_with_the_same_key_returns_the_first(team, policy):
    first = _start(team, policy)
    again = _start(team, PolicyFactory(), subject="changed")
    assert again.pk == first.pk
    assert Escalation.objects.count() == 1


def test_steps_fire_in_order_at_their_due_time(team, policy):
    with time_machine.travel(T0, tick=False):
        escalation = _start(team, policy)
        _step(escalation, 0)
        assert _step(escalation, 1) == "not due yet"
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        _step(escalation, 1)
    with time_machine.travel(T0 + timedelta(minutes=15), tick=False):
        _step(escalation, 2)
    assert _notified(escalation) == ["pri", "sec", "boss"]


def test_a_step_delivered_twice_fires_once(team, policy):
    with time_machine.travel(T0, tick=False):
        escalation = _start(team, policy)
        _step(escalation, 0)
        assert _step(escalation, 0) == "already fired"
    assert _notified(escalation) == ["pri"]


def test_stopped_escalation_fires_no_more_steps(team, policy):
    with time_machine.travel(T0, tick=False):
        escalation = _start(team, policy)
        _step(escalation, 0)
        assert escalation_stop(key="INC-7:ack", reason="acknowledged by pri") is True
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert _step(escalation, 1) == "not running"
    escalation.refresh_from_db()
    assert escalation.status == EscalationStatus.STOPPED
    assert _notified(escalation) == ["pri"]


def test_stopping_twice_reports_false(team, policy):
    _start(team, policy)
    escalation_stop(key="INC-7:ack", reason="ack")
    assert escalation_stop(key="INC-7:ack", reason="ack") is False


def test_policy_repeats_then_completes(team, policy):
    with time_machine.travel(T0, tick=False):
        escalation = _start(team, policy)
    for index in range(6):
        with time_machine.travel(T0 + timedelta(hours=index), tick=False):
            _step(escalation, index)
    escalation.refresh_from_db()
    assert escalation.status == EscalationStatus.COMPLETED
    assert _notified(escalation) == ["pri", "sec", "boss"] * 2


def test_missing_secondary_falls_back_to_the_manager(policy):
    team = TeamFactory(manager=UserFactory(username="lead", email="lead@example.com"))
    RotationFactory(team=team, members=[UserFactory(username="solo")], starts_on=date(2026, 5, 4))
    with time_machine.travel(T0, tick=False):
        escalation = _start(team, policy)
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        _step(escalation, 0)
        _step(escalation, 1)
    escalation.refresh_from_db()
    assert _notified(escalation) == ["solo", "lead"]
    assert "manager" in escalation.log[1]["notes"][0]


def test_channel_step_notifies_the_channel(team):
    channel = ChannelFactory(kind=ChannelKind.SLACK_WEBHOOK)
    policy = PolicyFactory()
    StepFactory(policy=policy, target=StepTarget.CHANNEL, channel=channel)
    with time_machine.travel(T0, tick=False):
        escalation = _start(team, policy)
        _step(escalation, 0)
    assert list(Notification.objects.filter(escalation=escalation).values_list("channel", flat=True)) == [channel.pk]


def test_escalation_sweeper_fires_steps_whose_task_was_lost(team, policy):
    with time_machine.travel(T0, tick=False):
        escalation = _start(team, policy)
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        tasks.escalation_sweeper()
    assert _notified(escalation) == ["pri"]
    assert JobRun.objects.get(job="alerting.escalation_sweeper").outcome == JobOutcome.SUCCEEDED


def test_notification_sweeper_redispatches_pending_rows(settings, monkeypatch):
    settings.ALERT_SWEEP_GRACE_SECONDS = 60
    RuleFactory(channels=[ChannelFactory()])
    with time_machine.travel(T0, tick=False):
        (row,) = notify(EventType.BACKUP_FAILED, subject="backup failed", idempotency_key="b1")
    sent = []
    monkeypatch.setattr("alerting.services.notifications.current_app.send_task", lambda name, **kw: sent.append(kw))
    with time_machine.travel(T0 + timedelta(seconds=30), tick=False):
        tasks.notification_sweeper()
    assert sent == []
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        tasks.notification_sweeper()
    assert [kw["args"] for kw in sent] == [[row.pk]]


def test_coverage_job_is_recorded_in_the_ledger():
    tasks.coverage_check()
    assert JobRun.objects.get(job="alerting.coverage_check").outcome == JobOutcome.SUCCEEDED


def test_retry_notifications_dead_requeues_dead_letters(monkeypatch):
    RuleFactory(channels=[ChannelFactory()])
    (row,) = notify(EventType.BACKUP_FAILED, subject="backup failed", idempotency_key="b2")
    Notification.objects.filter(pk=row.pk).update(status=NotificationStatus.DEAD_LETTER, attempts=5)
    monkeypatch.setattr("alerting.services.notifications.current_app.send_task", lambda name, **kw: None)
    call_command("retry_notifications", "--dead", stdout=io.StringIO())
    row.refresh_from_db()
    assert (row.status, row.attempt_limit) == (NotificationStatus.PENDING, 10)


def test_dispatch_survives_a_broker_outage(monkeypatch):
    from alerting.services import dispatch

    def down(name, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr("alerting.services.notifications.current_app.send_task", down)
    assert dispatch([1, 2, 3]) == 0


def test_escalation_step_is_scheduled_at_its_due_time_after_commit(
    team, policy, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        "alerting.services.escalations.current_app.send_task", lambda name, **kw: sent.append((name, kw))
    )
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        escalation = _start(team, policy, start_at=T0 + timedelta(minutes=5))
    assert sent == [("alerting.escalation_step", {"args": [escalation.pk, 0], "eta": T0 + timedelta(minutes=5)})]


def test_sweeper_does_not_flood_a_backlogged_queue(settings, monkeypatch):
    settings.ALERT_SWEEP_GRACE_SECONDS = 60
    RuleFactory(channels=[ChannelFactory()])
    with time_machine.travel(T0, tick=False):
        notify(EventType.BACKUP_FAILED, subject="backup failed", idempotency_key="b1")
    sent = []
    monkeypatch.setattr("alerting.services.notifications.current_app.send_task", lambda name, **kw: sent.append(kw))
    for seconds in (61, 91, 121):
        with time_machine.travel(T0 + timedelta(seconds=seconds), tick=False):
            tasks.notification_sweeper()
    assert len(sent) == 1
    with time_machine.travel(T0 + timedelta(seconds=61 + 301), tick=False):
        tasks.notification_sweeper()
    assert len(sent) == 2
