import datetime as dt

import pytest
import time_machine

from alerting.models import Escalation
from alerting.services import escalation_advance
from governance.choices import Severity
from incidents import services, tasks
from incidents.choices import EventKind
from incidents.models import IncidentEvent

from .conftest import deliver_pending, sink_events
from .factories import ActionItemFactory, IncidentFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 3, 3, 3, 0, tzinfo=dt.UTC)


def test_declaration_schedules_the_ack_check_at_the_deadline(
    service, commander, monkeypatch, django_capture_on_commit_callbacks
):
    scheduled = []
    monkeypatch.setattr(tasks.check_ack_deadline, "apply_async", lambda args, eta: scheduled.append((args, eta)))
    with django_capture_on_commit_callbacks(execute=True):
        incident = IncidentFactory(service=service, commander=commander)
    assert scheduled == [([incident.pk], incident.ack_due_at)]


def test_unacknowledged_sev1_is_breached_at_five_minutes_and_escalated(http_sink, sink_channel, service, commander):
    with time_machine.travel(T0, tick=False) as traveller:
        incident = IncidentFactory(severity=Severity.SEV1, service=service, commander=commander)
        traveller.move_to(T0 + dt.timedelta(minutes=4, seconds=59))
        assert tasks.ack_sweeper() == "0 incident(s) breached"
        traveller.move_to(T0 + dt.timedelta(minutes=5))
        tasks.check_ack_deadline(incident.pk)
        incident.refresh_from_db()
        assert incident.ack_breached
        assert incident.ack_breached_at == T0 + dt.timedelta(minutes=5)
        escalation = Escalation.objects.get(key=f"incident:{incident.pk}")
        escalation_advance(escalation_id=escalation.pk, step_index=0)
        deliver_pending()
    assert sink_events(http_sink) == ["incident.declared", "incident.ack_breached", "incident.escalated"]
    escalated = http_sink.received()[-1].json()
    assert escalated["data"]["dedup_key"] == incident.reference
    assert IncidentEvent.objects.filter(incident=incident, kind=EventKind.ACK_BREACHED).count() == 1
    assert IncidentEvent.objects.filter(incident=incident, kind=EventKind.ESCALATED).count() == 1


def test_acknowledging_at_minute_four_sends_nothing_further(http_sink, sink_channel, service, commander):
    with time_machine.travel(T0, tick=False) as traveller:
        incident = IncidentFactory(severity=Severity.SEV1, service=service, commander=commander)
        traveller.move_to(T0 + dt.timedelta(minutes=4))
        services.incident_acknowledge(incident=incident, actor=commander)
        traveller.move_to(T0 + dt.timedelta(minutes=5))
        tasks.check_ack_deadline(incident.pk)
        tasks.ack_sweeper()
        traveller.move_to(T0 + dt.timedelta(minutes=30))
        tasks.ack_sweeper()
        deliver_pending()
    incident.refresh_from_db()
    assert not incident.ack_breached
    assert not Escalation.objects.filter(key=f"incident:{incident.pk}").exists()
    assert sink_events(http_sink) == ["incident.declared", "incident.acknowledged"]


def test_acknowledging_after_the_breach_stops_the_escalation(sink_channel, service, commander):
    with time_machine.travel(T0, tick=False) as traveller:
        incident = IncidentFactory(severity=Severity.SEV1, service=service, commander=commander)
        traveller.move_to(T0 + dt.timedelta(minutes=6))
        tasks.ack_sweeper()
        services.incident_acknowledge(incident=incident, actor=commander)
    assert Escalation.objects.get(key=f"incident:{incident.pk}").status == "stopped"


def test_breach_is_recorded_once_when_task_and_sweeper_both_run(service, commander):
    with time_machine.travel(T0, tick=False) as traveller:
        incident = IncidentFactory(severity=Severity.SEV2, service=service, commander=commander)
        traveller.move_to(T0 + dt.timedelta(minutes=15))
        tasks.check_ack_deadline(incident.pk)
        tasks.check_ack_deadline(incident.pk)
        tasks.ack_sweeper()
    assert IncidentEvent.objects.filter(incident=incident, kind=EventKind.ACK_BREACHED).count() == 1


def test_resolution_notifies_with_a_stable_dedup_key(sink_channel, service, commander):
    from alerting.models import Notification

    incident = IncidentFactory(severity=Severity.SEV1, service=service, commander=commander)
    services.incident_acknowledge(incident=incident, actor=commander)
    services.incident_resolve(incident=incident, actor=commander)
    rows = Notification.objects.filter(event_type__startswith="incident.").order_by("pk")
    assert [(row.event_type, row.context["action"]) for row in rows] == [
        ("incident.declared", "trigger"),
        ("incident.acknowledged", "acknowledge"),
        ("incident.resolved", "resolve"),
    ]
    assert {row.context["dedup_key"] for row in rows} == {incident.reference}


def test_update_reminder_goes_to_the_commander_once_per_due_time(sink_channel, service, commander):
    from alerting.models import Notification

    with time_machine.travel(T0, tick=False) as traveller:
        incident = IncidentFactory(severity=Severity.SEV1, service=service, commander=commander)
        traveller.move_to(T0 + dt.timedelta(minutes=29))
        assert tasks.update_reminders() == "0 update reminder(s)"
        traveller.move_to(T0 + dt.timedelta(minutes=31))
        assert tasks.update_reminders() == "1 update reminder(s)"
        assert tasks.update_reminders() == "0 update reminder(s)"
    reminders = Notification.objects.filter(event_type="incident.update_due")
    assert {row.recipient_id for row in reminders if row.recipient_id} == {commander.pk}
    assert IncidentEvent.objects.filter(incident=incident, kind=EventKind.UPDATE_DUE).count() == 1


def test_sev3_has_no_update_reminders(service, commander):
    with time_machine.travel(T0, tick=False) as traveller:
        IncidentFactory(severity=Severity.SEV3, service=service, commander=commander)
        traveller.move_to(T0 + dt.timedelta(days=1))
        assert tasks.update_reminders() == "0 update reminder(s)"


def test_overdue_postmortem_is_reminded_once_a_day(sink_channel, service, commander, settings):
    from alerting.models import Notification

    settings.HOLIDAY_COUNTRY = None
    with time_machine.travel(T0, tick=False) as traveller:  # a Tuesday
        incident = IncidentFactory(severity=Severity.SEV2, service=service, commander=commander)
        services.incident_acknowledge(incident=incident, actor=commander)
        services.incident_resolve(incident=incident, actor=commander)
        traveller.move_to(T0 + dt.timedelta(days=6, hours=23))
        assert tasks.postmortem_reminders() == "0 postmortem reminder(s)"
        traveller.move_to(T0 + dt.timedelta(days=7, hours=1))
        assert tasks.postmortem_reminders() == "1 postmortem reminder(s)"
        traveller.move_to(T0 + dt.timedelta(days=7, hours=5))
        assert tasks.postmortem_reminders() == "0 postmortem reminder(s)"
    assert Notification.objects.filter(event_type="postmortem.due").exists()


def test_overdue_action_item_is_reminded(sink_channel, commander):
    from alerting.models import Notification

    with time_machine.travel(T0, tick=False):
        item = ActionItemFactory(owner=commander, due_date=dt.date(2026, 3, 2))
        ActionItemFactory(owner=commander, due_date=dt.date(2026, 3, 3))
        assert tasks.action_item_reminders() == "1 action item reminder(s)"
    reminder = Notification.objects.filter(event_type="action_item.overdue").first()
    assert reminder is not None
    assert item.title in reminder.context["body"]


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_breaches_at_the_deadline_without_the_sweeper(celery_worker, service, commander):
    from django.utils import timezone

    from tests.conftest import wait_for

    # Declared 4 min 57 s ago: the SEV1 deadline is 3 s away, and only the task queued with eta can meet it.
    incident = IncidentFactory(
        severity=Severity.SEV1,
        service=service,
        commander=commander,
        declared_at=timezone.now() - dt.timedelta(minutes=4, seconds=57),
    )
    assert not incident.ack_breached
    wait_for(
        lambda: IncidentEvent.objects.filter(incident=incident, kind=EventKind.ACK_BREACHED).exists(),
        timeout=20,
        message=f"the worker did not breach {incident.reference}:\n{celery_worker.log()[-3000:]}",
    )
    incident.refresh_from_db()
    assert incident.ack_breached_at >= incident.ack_due_at
