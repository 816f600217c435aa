"""Scheduled procedures with frozen time: one execution per slot however often the job runs or
however long Vigil was down; an overdue one notifies again and escalates."""

from datetime import UTC, datetime, timedelta

import pytest

from alerting.models import Escalation, Notification
from alerting.services import channel_create, escalation_policy_create, routing_rule_create
from governance.models import JobRun
from runbooks import services, tasks
from runbooks.models import RunbookExecution
from tests.factories import person

from .conftest import make_runbook

pytestmark = pytest.mark.django_db

# A Monday. Weekly procedures are due Mondays 09:00 in the runbook's time zone.
MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def routed(settings):
    settings.ALERT_ALLOW_PRIVATE_URLS = True
    channel = channel_create(name="ops hook", kind="generic_webhook", url="http://127.0.0.1:9/hook")
    policy = escalation_policy_create(
        name="Ops escalation", steps=[{"target": "channel", "channel": channel, "wait_minutes": 0}]
    )
    routing_rule_create(
        name="Procedures",
        event_types=["procedure.due", "runbook.review_due"],
        channels=[channel],
        escalation_policy=policy,
    )
    return channel


@pytest.fixture
def weekly(service, author, approver, time_machine):
    time_machine.move_to(MONDAY - timedelta(days=3), tick=False)  # set up the Friday before
    assignee = person("oncall.alex", "Responder")
    return make_runbook(
        service, author, approver, slug="weekly-review", severities=[], cadence="weekly", procedure_assignee=assignee
    )


def executions(runbook):
    return list(RunbookExecution.objects.filter(runbook=runbook, purpose="procedure").order_by("scheduled_for"))


def test_a_weekly_procedure_creates_one_execution_per_week_even_when_the_job_runs_twice(weekly, routed, time_machine):
    time_machine.move_to(MONDAY + timedelta(minutes=2), tick=False)
    tasks.procedures()
    tasks.procedures()
    assert [e.scheduled_for for e in executions(weekly)] == [MONDAY]
    time_machine.move_to(MONDAY + timedelta(days=3), tick=False)
    tasks.procedures()
    assert len(executions(weekly)) == 1
    time_machine.move_to(MONDAY + timedelta(days=7, minutes=1), tick=False)
    tasks.procedures()
    tasks.procedures()
    assert [e.scheduled_for for e in executions(weekly)] == [MONDAY, MONDAY + timedelta(days=7)]
    assert JobRun.objects.filter(job="runbooks.procedures", outcome="succeeded").count() == 5


def test_a_week_of_downtime_creates_the_missed_run_once(weekly, routed, time_machine):
    time_machine.move_to(MONDAY + timedelta(minutes=1), tick=False)
    tasks.procedures()
    # Vigil is down from Monday to the Wednesday of the week after next: two slots pass unseen.
    time_machine.move_to(MONDAY + timedelta(days=16), tick=False)
    tasks.procedures()
    tasks.procedures()
    runs = executions(weekly)
    assert [e.scheduled_for for e in runs] == [MONDAY, MONDAY + timedelta(days=14)]
    assert runs[1].missed_slots == 1


def test_the_due_execution_is_assigned_and_announced(weekly, routed, time_machine):
    time_machine.move_to(MONDAY + timedelta(minutes=1), tick=False)
    tasks.procedures()
    execution = executions(weekly)[0]
    assert execution.status == "pending" and execution.assignee.username == "oncall.alex"
    assert execution.due_at == MONDAY + timedelta(hours=24)
    due = Notification.objects.filter(idempotency_key=f"procedure:{execution.pk}:due")
    # the routed channel, and the assignee in person
    assert {n.event_type for n in due} == {"procedure.due"} and due.count() == 2
    assert due.filter(recipient__username="oncall.alex").exists()


def test_an_overdue_procedure_notifies_again_and_escalates_once(weekly, routed, time_machine):
    time_machine.move_to(MONDAY + timedelta(minutes=1), tick=False)
    tasks.procedures()
    execution = executions(weekly)[0]
    time_machine.move_to(MONDAY + timedelta(hours=23), tick=False)
    tasks.procedures()
    assert not Escalation.objects.exists()
    time_machine.move_to(MONDAY + timedelta(hours=25), tick=False)
    tasks.procedures()
    tasks.procedures()
    execution.refresh_from_db()
    assert execution.overdue_at == MONDAY + timedelta(hours=25)
    assert Notification.objects.filter(idempotency_key=f"procedure:{execution.pk}:overdue").count() == 2
    escalation = Escalation.objects.get()
    assert escalation.key == f"procedure:{execution.pk}" and escalation.status == "running"
    assert escalation.policy.name == "Ops escalation"

    # Completing it stops the escalation.
    for step in (1, 2):
        services.execution_step_record(execution=execution, step=step, outcome="done", actor=execution.assignee)
    services.execution_complete(execution=execution, actor=execution.assignee)
    escalation.refresh_from_db()
    assert escalation.status == "stopped"


def test_a_completed_procedure_never_goes_overdue(weekly, routed, time_machine):
    time_machine.move_to(MONDAY + timedelta(minutes=1), tick=False)
    tasks.procedures()
    execution = executions(weekly)[0]
    for step in (1, 2):
        services.execution_step_record(execution=execution, step=step, outcome="done", actor=execution.assignee)
    services.execution_complete(execution=execution, actor=execution.assignee)
    time_machine.move_to(MONDAY + timedelta(days=2), tick=False)
    tasks.procedures()
    execution.refresh_from_db()
    assert execution.overdue_at is None and not Escalation.objects.exists()


def test_the_on_call_primary_is_assigned_when_asked(service, author, approver, team, routed, time_machine):
    from alerting.services import rotation_create

    time_machine.move_to(MONDAY - timedelta(days=3), tick=False)
    primary, secondary = person("pat", "Responder"), person("sam", "Responder")
    rotation_create(
        team=team,
        name="Payments primary",
        members=[primary, secondary],
        starts_on=(MONDAY - timedelta(days=30)).date(),
        shift_length=timedelta(days=365),
        time_zone="UTC",
    )
    runbook = make_runbook(service, author, approver, slug="daily", severities=[], cadence="daily", assign_on_call=True)
    time_machine.move_to(MONDAY + timedelta(minutes=1), tick=False)
    tasks.procedures()
    assert executions(runbook)[0].assignee == primary


def test_a_cron_procedure_follows_its_time_zone(service, author, approver, routed, time_machine):
    time_machine.move_to(MONDAY - timedelta(days=3), tick=False)
    runbook = make_runbook(
        service,
        author,
        approver,
        slug="amsterdam",
        severities=[],
        cadence="30 7 * * *",
        cadence_timezone="Europe/Amsterdam",
    )
    # 07:30 in Amsterdam in November is 06:30 UTC.
    time_machine.move_to(datetime(2026, 11, 2, 6, 31, tzinfo=UTC), tick=False)
    tasks.procedures()
    assert [e.scheduled_for for e in executions(runbook)] == [datetime(2026, 11, 2, 6, 30, tzinfo=UTC)]


def test_review_reminders_go_before_the_due_date_and_again_when_overdue(runbook, routed, time_machine):
    published = runbook.first_published_at
    time_machine.move_to(published + timedelta(days=70), tick=False)
    tasks.review_reminders()
    assert not Notification.objects.filter(event_type="runbook.review_due").exists()
    time_machine.move_to(published + timedelta(days=80), tick=False)
    tasks.review_reminders()
    tasks.review_reminders()
    summaries = list(
        JobRun.objects.filter(job="runbooks.review_reminders").order_by("pk").values_list("summary", flat=True)
    )
    assert summaries[-2:] == ["1 runbook(s) reminded of their review", "0 runbook(s) reminded of their review"]
    reminders = Notification.objects.filter(event_type="runbook.review_due")
    assert len(set(reminders.values_list("idempotency_key", flat=True))) == 1
    assert {n.channel_id or n.recipient.username for n in reminders} == {routed.pk, runbook.owner_team.manager.username}
    time_machine.move_to(published + timedelta(days=91), tick=False)
    tasks.review_reminders()
    keys = sorted(
        set(Notification.objects.filter(event_type="runbook.review_due").values_list("idempotency_key", flat=True))
    )
    assert len(keys) == 2 and keys[0].endswith(":due") and keys[1].endswith(":overdue")


def test_the_review_clock_runs_from_the_last_review_not_the_last_reminder(runbook, routed, approver, time_machine):
    published = runbook.first_published_at
    time_machine.move_to(published + timedelta(days=91), tick=False)
    tasks.review_reminders()  # overdue reminder: the due date does not move
    runbook.refresh_from_db()
    assert runbook.review_due_at == published + timedelta(days=90)
    services.runbook_review(runbook=runbook, outcome="still_valid", actor=approver)
    runbook.refresh_from_db()
    assert runbook.review_due_at == published + timedelta(days=91 + 90)
