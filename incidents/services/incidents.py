"""Incident lifecycle: every write to an incident goes through these functions."""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.audit import audit_record, audit_update, diff, snapshot
from governance.choices import Severity
from governance.errors import Conflict, ValidationFailed
from governance.models import Service

from .. import events
from ..calendar import add_business_days
from ..choices import (
    DEFAULT_POLICIES,
    OPEN_STATUSES,
    POSTMORTEM_DUE_BUSINESS_DAYS,
    TRANSITIONS,
    IncidentRole,
    IncidentSource,
    IncidentStatus,
)
from ..models import Incident, SeverityPolicy
from ..notifications import notify_incident, stop_escalation


def _policy_values(severity: str) -> dict:
    policy = SeverityPolicy.objects.filter(severity=severity).first()
    if policy is None:  # the seeded rows were deleted: fall back to the documented defaults
        ack, cadence, required = DEFAULT_POLICIES[Severity(severity)]
        return {
            "ack_minutes": ack,
            "update_every_minutes": cadence,
            "postmortem_required": required,
            "postmortem_due_business_days": POSTMORTEM_DUE_BUSINESS_DAYS,
        }
    return {
        "ack_minutes": policy.ack_minutes,
        "update_every_minutes": policy.update_every_minutes,
        "postmortem_required": policy.postmortem_required,
        "postmortem_due_business_days": policy.postmortem_due_business_days,
    }


def _validate_severity(severity: str) -> str:
    if severity not in Severity.values:
        raise ValidationFailed(
            f"Unknown severity {severity!r}.", fields={"severity": [f"Choose from: {', '.join(Severity.values)}."]}
        )
    return severity


def locked_incident(incident: Incident | int, *, skip_locked: bool = False) -> Incident | None:
    """The row, locked for this transaction. With `skip_locked`, None while another transaction holds it."""
    pk = incident.pk if isinstance(incident, Incident) else incident
    rows = Incident.objects.select_for_update(of=("self",), skip_locked=skip_locked).select_related(
        "service", "service__owner_team", "commander"
    )
    return rows.filter(pk=pk).first() if skip_locked else rows.get(pk=pk)


def _refuse_transition(incident: Incident, target: str) -> None:
    if target not in TRANSITIONS[incident.status]:
        raise Conflict(
            f"{incident.reference} is {incident.get_status_display().lower()}; it cannot become {target}.",
            code="invalid_transition",
        )


def _schedule_ack_check(incident: Incident) -> None:
    from ..tasks import check_ack_deadline

    pk, eta = incident.pk, incident.ack_due_at
    # A lost or failed publish is caught by the ack sweeper; it must never fail the declaration.
    transaction.on_commit(lambda: _publish(check_ack_deadline, pk, eta), robust=True)


def _publish(task, pk: int, eta: datetime) -> None:
    task.apply_async(args=[pk], eta=eta)


@transaction.atomic
def incident_declare(
    *,
    title: str,
    severity: str,
    service: Service,
    summary: str = "",
    commander=None,
    declared_by=None,
    customer_impact: str = "",
    chat_url: str = "",
    source: str = IncidentSource.MANUAL,
    dedup_key: str = "",
    declared_at: datetime | None = None,
    recurrence_of: Incident | None = None,
) -> Incident:
    """Declare an incident under the current policy of its severity; starts the ack clock.

    `recurrence_of`: the earlier, resolved incident of the same alert group; linked on both timelines.
    """
    title = (title or "").strip()
    if not title:
        raise ValidationFailed("An incident needs a title.", fields={"title": ["Required."]})
    _validate_severity(severity)
    now = declared_at or timezone.now()
    policy = _policy_values(severity)
    cadence = policy["update_every_minutes"]
    incident = Incident(
        title=title[:200],
        summary=summary,
        severity=severity,
        service=service,
        commander=commander,
        customer_impact=customer_impact,
        chat_url=chat_url,
        source=source,
        dedup_key=dedup_key,
        recurrence_of=recurrence_of,
        declared_at=now,
        declared_by=declared_by,
        ack_due_at=now + timedelta(minutes=policy["ack_minutes"]),
        next_update_due_at=now + timedelta(minutes=cadence) if cadence else None,
        **policy,
    )
    incident.full_clean(exclude=["service", "commander", "declared_by"])
    incident.save()
    events.declared(incident, declared_by)
    if recurrence_of is not None:
        events.recurrence(incident, earlier=recurrence_of)
    if commander is not None:
        events.role_assigned(incident, declared_by, role=IncidentRole.COMMANDER, before=None, after=commander)
    audit_record(action="incident.declare", obj=incident, changes=diff({}, snapshot(incident)))
    notify_incident(incident, "incident.declared", key="declared", action="trigger")
    _schedule_ack_check(incident)
    return incident


def incident_declare_or_get(*, dedup_key: str, **fields) -> tuple[Incident, bool]:
    """The open incident with `dedup_key`, or a new one: (incident, created)."""
    if not dedup_key:
        return incident_declare(**fields), True
    existing = Incident.objects.filter(dedup_key=dedup_key, status__in=OPEN_STATUSES).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return incident_declare(dedup_key=dedup_key, **fields), True
    except IntegrityError:
        # Another request declared it between our read and our insert: theirs wins.
        existing = Incident.objects.filter(dedup_key=dedup_key, status__in=OPEN_STATUSES).first()
        if existing is None:
            raise
        return existing, False


@transaction.atomic
def incident_acknowledge(*, incident: Incident | int, actor=None) -> Incident:
    """Idempotent: the first acknowledgement wins; later ones change nothing."""
    incident = locked_incident(incident)
    if incident.acknowledged_at is not None:
        return incident
    _refuse_transition(incident, IncidentStatus.ACKNOWLEDGED)
    before = snapshot(incident, ["status", "acknowledged_at", "acknowledged_by"])
    incident.status = IncidentStatus.ACKNOWLEDGED
    incident.acknowledged_at = max(timezone.now(), incident.declared_at)
    incident.acknowledged_by = actor if getattr(actor, "pk", None) else None
    incident.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "updated_at"])
    events.acknowledged(incident, actor)
    audit_record(action="incident.acknowledge", obj=incident, changes=diff(before, snapshot(incident, list(before))))
    stop_escalation(incident, reason="acknowledged")
    notify_incident(incident, "incident.acknowledged", key="acknowledged", action="acknowledge")
    return incident


@transaction.atomic
def incident_mitigate(*, incident: Incident | int, actor=None, note: str = "") -> Incident:
    incident = locked_incident(incident)
    _refuse_transition(incident, IncidentStatus.MITIGATED)
    before = snapshot(incident, ["status", "mitigated_at"])
    incident.status = IncidentStatus.MITIGATED
    incident.mitigated_at = timezone.now()
    incident.save(update_fields=["status", "mitigated_at", "updated_at"])
    events.mitigated(incident, actor, note)
    audit_record(action="incident.mitigate", obj=incident, changes=diff(before, snapshot(incident, list(before))))
    return incident


@transaction.atomic
def incident_resolve(*, incident: Incident | int, actor=None, note: str = "") -> Incident:
    """Resolve; a required postmortem gets its draft and its due date (business days)."""
    from .postmortems import postmortem_create

    incident = locked_incident(incident)
    _refuse_transition(incident, IncidentStatus.RESOLVED)
    fields = ["status", "resolved_at", "next_update_due_at", "postmortem_due_at"]
    before = snapshot(incident, fields)
    now = timezone.now()
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = now
    incident.next_update_due_at = None
    if incident.postmortem_required:
        incident.postmortem_due_at = add_business_days(now, incident.postmortem_due_business_days)
    incident.save(update_fields=[*fields, "updated_at"])
    events.resolved(incident, actor, note)
    audit_record(action="incident.resolve", obj=incident, changes=diff(before, snapshot(incident, fields)))
    if incident.postmortem_required and not hasattr(incident, "postmortem"):
        postmortem_create(incident=incident, actor=actor)
    stop_escalation(incident, reason="resolved")
    notify_incident(incident, "incident.resolved", key="resolved", action="resolve", body=note)
    return incident


@transaction.atomic
def incident_close(*, incident: Incident | int, actor=None, note: str = "") -> Incident:
    """Close a resolved incident; a required postmortem must be published first."""
    from ..choices import PostmortemStatus
    from ..models import Postmortem

    incident = locked_incident(incident)
    _refuse_transition(incident, IncidentStatus.CLOSED)
    if incident.postmortem_required:
        published = Postmortem.objects.filter(incident=incident, status=PostmortemStatus.PUBLISHED).exists()
        if not published:
            raise Conflict(
                f"{incident.reference} is {incident.severity}: publish its postmortem before closing it.",
                code="postmortem_required",
            )
    before = snapshot(incident, ["status", "closed_at"])
    incident.status = IncidentStatus.CLOSED
    incident.closed_at = timezone.now()
    incident.save(update_fields=["status", "closed_at", "updated_at"])
    events.closed(incident, actor, note)
    audit_record(action="incident.close", obj=incident, changes=diff(before, snapshot(incident, list(before))))
    return incident


@transaction.atomic
def incident_change_severity(*, incident: Incident | int, severity: str, reason: str, actor=None) -> Incident:
    """Re-classify. The new severity's policy applies from now on; a stricter unacknowledged
    deadline is measured from the declaration."""
    _validate_severity(severity)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the severity changes.", fields={"reason": ["Required."]})
    incident = locked_incident(incident)
    if incident.status == IncidentStatus.CLOSED:
        raise Conflict(f"{incident.reference} is closed; its severity is final.", code="invalid_transition")
    if severity == incident.severity:
        return incident
    fields = [
        "severity",
        "ack_minutes",
        "ack_due_at",
        "update_every_minutes",
        "next_update_due_at",
        "postmortem_required",
        "postmortem_due_business_days",
        "postmortem_due_at",
    ]
    before = snapshot(incident, fields)
    previous = incident.severity
    policy = _policy_values(severity)
    incident.severity = severity
    for name, value in policy.items():
        setattr(incident, name, value)
    rescheduled = False
    if incident.status == IncidentStatus.DECLARED and not incident.ack_breached:
        incident.ack_due_at = incident.declared_at + timedelta(minutes=policy["ack_minutes"])
        rescheduled = True
    if incident.is_open:
        cadence = policy["update_every_minutes"]
        base = incident.last_update_at or incident.declared_at
        incident.next_update_due_at = base + timedelta(minutes=cadence) if cadence else None
    if incident.resolved_at and incident.postmortem_required and incident.postmortem_due_at is None:
        incident.postmortem_due_at = add_business_days(incident.resolved_at, incident.postmortem_due_business_days)
    incident.save(update_fields=[*fields, "updated_at"])
    events.severity_changed(incident, actor, before=previous, reason=reason)
    audit_record(action="incident.change_severity", obj=incident, changes=diff(before, snapshot(incident, fields)))
    if rescheduled:
        _schedule_ack_check(incident)
    return incident


ROLE_FIELDS = {
    IncidentRole.COMMANDER: "commander",
    IncidentRole.COMMUNICATIONS_LEAD: "communications_lead",
    IncidentRole.SCRIBE: "scribe",
}
_UNSET = object()


@transaction.atomic
def incident_assign_roles(
    *, incident: Incident | int, actor=None, commander=_UNSET, communications_lead=_UNSET, scribe=_UNSET
) -> Incident:
    """Assign any of the three roles; None clears one; omitted ones stay."""
    incident = locked_incident(incident)
    wanted = {"commander": commander, "communications_lead": communications_lead, "scribe": scribe}
    changed = []
    before = snapshot(incident, list(wanted))
    for role, field in ROLE_FIELDS.items():
        person = wanted[field]
        if person is _UNSET:
            continue
        current = getattr(incident, field)
        if (current.pk if current else None) == (person.pk if person else None):
            continue
        setattr(incident, field, person)
        events.role_assigned(incident, actor, role=role, before=current, after=person)
        changed.append(field)
    if changed:
        incident.save(update_fields=[*changed, "updated_at"])
        audit_record(
            action="incident.assign_roles", obj=incident, changes=diff(before, snapshot(incident, list(wanted)))
        )
    return incident


@transaction.atomic
def incident_post_update(*, incident: Incident | int, message: str, actor=None):
    """A status update on the timeline; restarts the update cadence clock."""
    message = (message or "").strip()
    if not message:
        raise ValidationFailed("A status update needs a message.", fields={"message": ["Required."]})
    incident = locked_incident(incident)
    if incident.status == IncidentStatus.CLOSED:
        raise Conflict(f"{incident.reference} is closed; add no more updates.", code="invalid_transition")
    now = timezone.now()
    incident.last_update_at = now
    if incident.is_open and incident.update_every_minutes:
        incident.next_update_due_at = now + timedelta(minutes=incident.update_every_minutes)
    incident.save(update_fields=["last_update_at", "next_update_due_at", "updated_at"])
    event = events.status_update(incident, actor, message)
    audit_record(action="incident.post_update", obj=incident, changes={"status_update": [None, message]})
    return event


@transaction.atomic
def incident_add_note(*, incident: Incident | int, message: str, actor=None):
    message = (message or "").strip()
    if not message:
        raise ValidationFailed("A note needs a message.", fields={"message": ["Required."]})
    incident = locked_incident(incident)
    event = events.note(incident, actor, message)
    audit_record(action="incident.add_note", obj=incident, changes={"note": [None, message]})
    return event


EDITABLE_DETAILS = ("title", "summary", "customer_impact", "chat_url")


@transaction.atomic
def incident_update_details(*, incident: Incident | int, actor=None, **fields) -> Incident:
    """Descriptive fields only; state changes have their own services."""
    incident = locked_incident(incident)
    changes = audit_update(
        incident,
        action="incident.update",
        editable=EDITABLE_DETAILS,
        fields=fields,
        clean_exclude=["service", "commander", "declared_by"],
    )
    if changes:
        events.details_changed(incident, actor, fields=sorted(changes))
    return incident
