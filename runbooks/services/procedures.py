"""Scheduled procedures and review reminders, run by the scheduled jobs in tasks.py.

A procedure's slots come from its cadence (croniter, in the runbook's time zone). Each run
creates the execution of the latest slot that has come, once (a unique constraint holds it
however often the job runs); slots missed while Vigil was down collapse into that one.
"""

import logging
import zoneinfo
from datetime import datetime, timedelta

from croniter import croniter
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from governance.audit import audit_record

from ..choices import (
    CADENCE_CRON,
    OPEN_EXECUTION_STATUSES,
    REVIEW_REMIND_DAYS_BEFORE,
    ExecutionPurpose,
    RunbookStatus,
)
from ..models import Runbook, RunbookExecution
from .executions import execution_start, procedure_escalation_key

logger = logging.getLogger(__name__)
MAX_MISSED_COUNTED = 1000  # counting missed slots stops here (a minutely cron down for a year)


def cron_of(runbook: Runbook) -> str:
    return CADENCE_CRON.get(runbook.cadence, runbook.cadence)


def latest_slot(runbook: Runbook, now: datetime) -> datetime | None:
    """The most recent slot at or before `now` (UTC), or None before the schedule began."""
    if not runbook.cadence:
        return None
    tz = zoneinfo.ZoneInfo(runbook.cadence_timezone or "UTC")
    local_now = now.astimezone(tz)
    itr = croniter(cron_of(runbook), local_now + timedelta(microseconds=1))
    slot = itr.get_prev(datetime).astimezone(zoneinfo.ZoneInfo("UTC"))
    if runbook.cadence_since and slot < runbook.cadence_since:
        return None
    return slot


def next_slot(runbook: Runbook, after: datetime) -> datetime | None:
    if not runbook.cadence:
        return None
    tz = zoneinfo.ZoneInfo(runbook.cadence_timezone or "UTC")
    return croniter(cron_of(runbook), after.astimezone(tz)).get_next(datetime).astimezone(zoneinfo.ZoneInfo("UTC"))


def _missed_between(runbook: Runbook, previous: datetime | None, slot: datetime) -> int:
    if previous is None:
        return 0
    tz = zoneinfo.ZoneInfo(runbook.cadence_timezone or "UTC")
    itr = croniter(cron_of(runbook), previous.astimezone(tz))
    missed = 0
    while missed < MAX_MISSED_COUNTED:
        candidate = itr.get_next(datetime).astimezone(zoneinfo.ZoneInfo("UTC"))
        if candidate >= slot:
            break
        missed += 1
    return missed


def procedure_assignee(runbook: Runbook, at: datetime):
    """The named person, else (when asked for) the owner team's on-call primary, else nobody."""
    if runbook.procedure_assignee_id:
        return runbook.procedure_assignee
    if runbook.assign_on_call and runbook.owner_team_id:
        from alerting.selectors import who_is_on_call

        return who_is_on_call(runbook.owner_team, at).primary
    return None


def execution_url(execution: RunbookExecution) -> str:
    path = reverse("admin:runbooks_runbookexecution_change", args=[execution.pk])
    return settings.VIGIL_BASE_URL.rstrip("/") + path


def _notify(event_type: str, *, key: str, subject: str, body: str, runbook: Runbook, recipients, links, data):
    from alerting.services import notify

    return notify(
        event_type,
        subject=subject,
        idempotency_key=key,
        body=body,
        service=runbook.service,
        team=runbook.owner_team,
        links=links,
        data=data,
        recipients=[r for r in recipients if r is not None],
    )


def procedure_create_due(*, runbook: Runbook, now: datetime | None = None) -> RunbookExecution | None:
    """The execution of the latest slot that has come, if it does not exist yet."""
    now = now or timezone.now()
    slot = latest_slot(runbook, now)
    if slot is None or runbook.current_version_id is None:
        return None
    if RunbookExecution.objects.filter(
        runbook=runbook, purpose=ExecutionPurpose.PROCEDURE, scheduled_for=slot
    ).exists():
        return None
    previous = (
        RunbookExecution.objects.filter(runbook=runbook, purpose=ExecutionPurpose.PROCEDURE)
        .order_by("-scheduled_for")
        .values_list("scheduled_for", flat=True)
        .first()
    )
    if previous is not None and previous > slot:
        return None
    assignee = procedure_assignee(runbook, now)
    try:
        with transaction.atomic():
            execution = execution_start(
                version=runbook.current_version,
                purpose=ExecutionPurpose.PROCEDURE,
                assignee=assignee,
                scheduled_for=slot,
                due_at=slot + timedelta(hours=runbook.procedure_deadline_hours),
                missed_slots=_missed_between(runbook, previous, slot),
            )
            missed = f" ({execution.missed_slots} earlier slot(s) were missed)" if execution.missed_slots else ""
            _notify(
                "procedure.due",
                key=f"procedure:{execution.pk}:due",
                subject=f"Procedure due: {runbook.title}",
                body=(
                    f"{runbook.title} is due by {timezone.localtime(execution.due_at):%Y-%m-%d %H:%M %Z}; "
                    f"assigned to {assignee.get_username() if assignee else 'nobody (no assignee, nobody on call)'}"
                    f"{missed}."
                ),
                runbook=runbook,
                recipients=[assignee],
                links=[{"label": "Run the procedure in Vigil", "url": execution_url(execution)}],
                data={
                    "runbook": runbook.slug,
                    "execution": execution.pk,
                    "scheduled_for": slot,
                    "due_at": execution.due_at,
                    "assignee": assignee.get_username() if assignee else None,
                    "missed_slots": execution.missed_slots,
                },
            )
            return execution
    except IntegrityError:
        return None  # another run of the job created this slot first


def procedures_create_due(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    created = 0
    runbooks = (
        Runbook.objects.filter(status=RunbookStatus.PUBLISHED, current_version__isnull=False)
        .exclude(cadence="")
        .select_related("service", "owner_team", "procedure_assignee", "current_version")
        .order_by("pk")
    )
    for runbook in runbooks:
        try:
            if procedure_create_due(runbook=runbook, now=now) is not None:
                created += 1
        except Exception:  # one bad schedule must not stop the others
            logger.exception("procedure %s: could not create the due execution", runbook.slug)
    return created


@transaction.atomic
def procedure_flag_overdue(*, execution: RunbookExecution, now: datetime | None = None) -> bool:
    """Past its deadline and not completed: mark it, notify again and escalate through the owner
    team's escalation policy (the routing rule for procedure.due). Once per execution."""
    from alerting.services import escalation_start

    now = now or timezone.now()
    execution = (
        RunbookExecution.objects.select_for_update(of=("self",))
        .select_related("runbook", "runbook__service", "runbook__owner_team", "assignee")
        .get(pk=execution.pk)
    )
    if execution.overdue_at is not None or execution.status not in OPEN_EXECUTION_STATUSES:
        return False
    if execution.due_at is None or execution.due_at > now:
        return False
    execution.overdue_at = now
    execution.save(update_fields=["overdue_at", "updated_at"])
    audit_record(action="runbook.procedure_overdue", obj=execution, changes={"overdue_at": [None, now]})
    runbook = execution.runbook
    late = now - execution.due_at
    subject = f"Procedure overdue: {runbook.title}"
    body = (
        f"{runbook.title} was due {timezone.localtime(execution.due_at):%Y-%m-%d %H:%M %Z} "
        f"({int(late.total_seconds() // 60)} min ago) and is not completed."
    )
    links = [{"label": "Run the procedure in Vigil", "url": execution_url(execution)}]
    data = {"runbook": runbook.slug, "execution": execution.pk, "due_at": execution.due_at.isoformat(), "overdue": True}
    _notify(
        "procedure.due",
        key=f"procedure:{execution.pk}:overdue",
        subject=subject,
        body=body,
        runbook=runbook,
        recipients=[execution.assignee],
        links=links,
        data=data,
    )
    escalation_start(
        key=procedure_escalation_key(execution),
        event_type="procedure.due",
        subject=subject,
        body=body,
        service=runbook.service,
        team=runbook.owner_team,
        links=links,
        data=data,
    )
    return True


def procedures_flag_overdue(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    due = RunbookExecution.objects.filter(
        purpose=ExecutionPurpose.PROCEDURE,
        status__in=OPEN_EXECUTION_STATUSES,
        overdue_at__isnull=True,
        due_at__lte=now,
    ).order_by("due_at", "pk")
    return sum(1 for execution in due if procedure_flag_overdue(execution=execution, now=now))


# --- review reminders ---------------------------------------------------------------------------


def runbook_url(runbook: Runbook) -> str:
    path = reverse("admin:runbooks_runbook_change", args=[runbook.pk])
    return settings.VIGIL_BASE_URL.rstrip("/") + path


def reviews_remind(*, now: datetime | None = None) -> int:
    """`runbook.review_due` before the due date and again once overdue; each once per due date
    (the idempotency key carries it), and a reminder never moves the due date. Returns how many
    runbooks were reminded by this run."""
    from alerting.models import Notification

    from ..selectors import runbooks_review_due

    now = now or timezone.now()
    reminded = 0
    for runbook, due_at in runbooks_review_due(now=now, within=timedelta(days=REVIEW_REMIND_DAYS_BEFORE)):
        overdue = due_at <= now
        stage = "overdue" if overdue else "due"
        key = f"runbook:{runbook.pk}:review:{due_at.date().isoformat()}:{stage}"
        if Notification.objects.filter(idempotency_key=key).exists():
            continue  # reminded already for this due date and stage
        last = (
            f"last reviewed {timezone.localtime(runbook.last_reviewed_at):%Y-%m-%d}"
            if runbook.last_reviewed_at
            else "never reviewed since publication"
        )
        with transaction.atomic():
            rows = _notify(
                "runbook.review_due",
                key=key,
                subject=f"Runbook review {stage}: {runbook.title}",
                body=(
                    f"{runbook.title} is due for review on {timezone.localtime(due_at):%Y-%m-%d} "
                    f"(every {runbook.review_interval_days} days; {last})."
                ),
                runbook=runbook,
                recipients=[runbook.owner_team.manager] if runbook.owner_team_id else [],
                links=[{"label": "Review the runbook in Vigil", "url": runbook_url(runbook)}],
                data={"runbook": runbook.slug, "due_at": due_at, "overdue": overdue},
            )
        reminded += 1 if rows else 0
    return reminded
