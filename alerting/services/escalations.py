"""Escalations: ordered steps fired at their due time by scheduled tasks, a sweeper behind them."""

import logging
from datetime import datetime, timedelta

from celery import current_app
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.audit import audit_record
from governance.choices import Severity
from governance.errors import ValidationFailed

from ..choices import EscalationStatus, EventType, StepTarget
from ..models import Escalation, EscalationPolicy, EscalationStep
from ..selectors import matching_rules, who_is_on_call
from .notifications import Target, _context, _people_targets, write_notifications

logger = logging.getLogger(__name__)

STEP_TASK = "alerting.escalation_step"
EARLY_TOLERANCE = timedelta(seconds=2)  # a task delivered this early (clock skew) still fires


def _steps(policy: EscalationPolicy) -> list[EscalationStep]:
    return list(policy.steps.select_related("user", "channel").order_by("position", "pk"))


def _total(policy: EscalationPolicy, steps: list) -> int:
    return len(steps) * (policy.repeat + 1)


def _schedule(escalation_id: int, step_index: int, due_at: datetime) -> None:
    try:
        current_app.send_task(STEP_TASK, args=[escalation_id, step_index], eta=due_at)
    except Exception as exc:  # broker down: the escalation sweeper fires the step when due
        logger.warning("could not schedule escalation %s step %s: %s", escalation_id, step_index, exc)


def escalation_start(
    *,
    key: str,
    event_type: str,
    subject: str,
    severity=None,
    service=None,
    team=None,
    body: str = "",
    links=None,
    data=None,
    dedup_key=None,
    policy=None,
    start_at=None,
) -> Escalation | None:
    """Start escalating under `policy` (default: the first matching routing rule's). Idempotent per key."""
    if event_type not in EventType.values:
        raise ValidationFailed(f"Unknown event type {event_type!r}.", fields={"event_type": ["Unknown."]})
    if severity not in (None, "", *Severity.values):
        raise ValidationFailed(f"Unknown severity {severity!r}.", fields={"severity": ["Unknown."]})
    if not key or len(key) > 200:
        raise ValidationFailed("An escalation needs a key of at most 200 characters.", fields={"key": ["Required."]})
    with transaction.atomic():
        existing = Escalation.objects.filter(key=key).first()
        if existing is not None:
            return existing
        if policy is None:
            rules = matching_rules(event_type=event_type, severity=severity, service=service, team=team)
            policy = next((r.escalation_policy for r in rules if r.escalation_policy_id), None)
        if policy is None:
            return None
        steps = _steps(policy)
        if not steps:
            logger.warning("escalation policy %s has no steps; %s not escalated", policy, key)
            return None
        if team is None and service is not None:
            team = service.owner_team
        started_at = start_at or timezone.now()
        try:
            with transaction.atomic():
                escalation = Escalation.objects.create(
                    key=key,
                    policy=policy,
                    event_type=event_type,
                    severity=severity or "",
                    subject=subject[:500],
                    body=body,
                    service=service,
                    team=team,
                    links=links or [],
                    data=data or {},
                    dedup_key=dedup_key or "",
                    started_at=started_at,
                    next_step_index=0,
                    next_due_at=started_at + timedelta(minutes=steps[0].wait_minutes),
                )
        except IntegrityError:
            return Escalation.objects.get(key=key)  # a concurrent start with the same key
        audit_record(
            action="escalation_start",
            obj=escalation,
            changes={"policy": [None, policy.pk], "status": [None, escalation.status]},
        )
        pk, due = escalation.pk, escalation.next_due_at
        transaction.on_commit(lambda: _schedule(pk, 0, due))
        return escalation


@transaction.atomic
def escalation_stop(*, key: str, reason: str) -> bool:
    """Stop a running escalation; its pending steps never fire. False if none was running."""
    escalation = Escalation.objects.select_for_update().filter(key=key).first()
    if escalation is None or escalation.status != EscalationStatus.RUNNING:
        return False
    escalation.status = EscalationStatus.STOPPED
    escalation.stopped_at = timezone.now()
    escalation.stop_reason = (reason or "")[:500]
    escalation.next_due_at = None
    escalation.save(update_fields=["status", "stopped_at", "stop_reason", "next_due_at", "updated_at"])
    audit_record(
        action="escalation_stop",
        obj=escalation,
        changes={"status": [EscalationStatus.RUNNING, escalation.status], "reason": [None, escalation.stop_reason]},
    )
    return True


def _step_targets(escalation: Escalation, step: EscalationStep, now: datetime) -> tuple[list[Target], list[str]]:
    """Who a step reaches, and a note per fallback taken."""
    team = escalation.team
    notes: list[str] = []
    people = []
    if step.target in (StepTarget.PRIMARY, StepTarget.SECONDARY):
        on_call = who_is_on_call(team, now) if team is not None else None
        person = None
        if on_call is not None:
            person = on_call.primary if step.target == StepTarget.PRIMARY else on_call.secondary
        if person is None and team is not None and team.manager_id:
            notes.append(f"no {step.target} on call; the team manager is notified")
            person = team.manager
        elif person is None:
            notes.append(f"no {step.target} on call and no team manager")
        people = [person] if person else []
    elif step.target == StepTarget.USER:
        people = [step.user]
    elif step.target == StepTarget.TEAM_MANAGER:
        if team is not None and team.manager_id:
            people = [team.manager]
        else:
            notes.append("no team manager")
    elif step.target == StepTarget.CHANNEL:
        if step.channel.enabled:
            return [Target(kind=step.channel.kind, channel=step.channel)], notes
        notes.append(f"channel {step.channel} is disabled")
    return _people_targets(people), notes


def escalation_advance(*, escalation_id: int, step_index: int) -> str:
    """Fire step `step_index` if it is the escalation's next step and due. Safe to run twice."""
    now = timezone.now()
    with transaction.atomic():
        escalation = (
            Escalation.objects.select_for_update(of=("self",))
            .select_related("policy", "team", "team__manager", "service")
            .filter(pk=escalation_id)
            .first()
        )
        if escalation is None or escalation.status != EscalationStatus.RUNNING:
            return "not running"
        if escalation.next_step_index != step_index:
            return "already fired"
        if escalation.next_due_at and escalation.next_due_at > now + EARLY_TOLERANCE:
            return "not due yet"
        steps = _steps(escalation.policy)
        total = _total(escalation.policy, steps)
        if not steps or step_index >= total:
            escalation.status = EscalationStatus.COMPLETED
            escalation.next_due_at = None
            escalation.save(update_fields=["status", "next_due_at", "updated_at"])
            return "completed"
        step = steps[step_index % len(steps)]
        round_number = step_index // len(steps) + 1
        targets, notes = _step_targets(escalation, step, now)
        context = _context(
            event_type=escalation.event_type,
            subject=f"Escalation step {step_index % len(steps) + 1} (round {round_number}): {escalation.subject}",
            body=escalation.body,
            severity=escalation.severity or None,
            service=escalation.service,
            team=escalation.team,
            links=escalation.links,
            data={**escalation.data, "escalation": escalation.key, "step": step_index + 1},
            dedup_key=escalation.dedup_key or None,
            action="trigger",
            now=now,
        )
        rows = write_notifications(
            event_type=escalation.event_type,
            idempotency_key=f"escalation:{escalation.key}:{step_index}",
            targets=targets,
            context=context,
            escalation=escalation,
        )
        escalation.log = [
            *escalation.log,
            {
                "step": step_index + 1,
                "target": step.target,
                "fired_at": now.isoformat(),
                "notifications": [row.pk for row in rows],
                "notes": notes,
            },
        ]
        next_index = step_index + 1
        if next_index >= total:
            escalation.status = EscalationStatus.COMPLETED
            escalation.next_due_at = None
        else:
            base = escalation.next_due_at or now
            escalation.next_due_at = base + timedelta(minutes=steps[next_index % len(steps)].wait_minutes)
        escalation.next_step_index = next_index
        escalation.save(update_fields=["log", "status", "next_due_at", "next_step_index", "updated_at"])
        audit_record(
            action="escalation_step",
            obj=escalation,
            changes={"step": [step_index, next_index], "notifications": [None, [r.pk for r in rows]]},
        )
        if escalation.status == EscalationStatus.RUNNING:
            pk, due = escalation.pk, escalation.next_due_at
            transaction.on_commit(lambda: _schedule(pk, next_index, due))
    return f"step {step_index + 1} fired: {len(rows)} notification(s)"


def escalations_sweep(*, now: datetime | None = None, grace: timedelta = timedelta(seconds=30)) -> int:
    """Fire steps whose scheduled task was lost. Returns how many fired."""
    now = now or timezone.now()
    due = Escalation.objects.filter(status=EscalationStatus.RUNNING, next_due_at__lte=now - grace).values_list(
        "pk", "next_step_index"
    )[:500]
    fired = 0
    for escalation_id, step_index in due:
        if escalation_advance(escalation_id=escalation_id, step_index=step_index).startswith("step"):
            fired += 1
    return fired
