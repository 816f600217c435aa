"""The clocks' consequences: ack breaches (escalation) and status-update reminders."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record

from .. import events
from ..choices import IncidentStatus
from ..models import Incident
from ..notifications import escalate_incident, notify_incident
from .incidents import locked_incident


@transaction.atomic
def incident_record_ack_breach(
    *, incident: Incident | int, now: datetime | None = None, skip_locked: bool = False
) -> bool:
    """Mark an unacknowledged incident past its deadline as breached and escalate. Safe twice.

    Sweepers pass `skip_locked`: a row another transaction holds (being acknowledged, or
    breached by the deadline task) is left to it."""
    now = now or timezone.now()
    incident = locked_incident(incident, skip_locked=skip_locked)
    if (
        incident is None
        or incident.status != IncidentStatus.DECLARED
        or incident.ack_breached
        or incident.ack_due_at > now
    ):
        return False
    incident.ack_breached = True
    incident.ack_breached_at = now
    incident.save(update_fields=["ack_breached", "ack_breached_at", "updated_at"])
    events.ack_breached(incident)
    audit_record(
        action="incident.ack_breached",
        obj=incident,
        changes={"ack_breached": [False, True], "ack_breached_at": [None, now]},
    )
    notify_incident(
        incident,
        "incident.ack_breached",
        key="ack_breached",
        body=f"{incident.reference} was not acknowledged within {incident.ack_minutes} min.",
    )
    escalation = escalate_incident(incident)
    if escalation is not None:
        events.escalated(incident, policy=str(getattr(escalation, "policy", "") or ""))
    return True


@transaction.atomic
def incident_remind_update_due(
    *, incident: Incident | int, now: datetime | None = None, skip_locked: bool = False
) -> bool:
    """Remind the commander that a status update is due, once per due time."""
    now = now or timezone.now()
    incident = locked_incident(incident, skip_locked=skip_locked)
    if incident is None:
        return False
    due = incident.next_update_due_at
    if not incident.is_open or due is None or due > now:
        return False
    if incident.update_reminded_at is not None and incident.update_reminded_at >= due:
        return False
    incident.update_reminded_at = now
    incident.save(update_fields=["update_reminded_at", "updated_at"])
    events.update_due(incident)
    audit_record(action="incident.update_due", obj=incident, changes={"update_reminded_at": [None, now]})
    recipients = [incident.commander] if incident.commander else None
    notify_incident(
        incident,
        "incident.update_due",
        key=f"update_due:{due.isoformat()}",
        body=f"A status update on {incident.reference} was due at {due:%H:%M} UTC.",
        recipients=recipients,
    )
    return True
