"""Timeline writers: one small named function per kind of IncidentEvent (Saleor style).

Call them inside the service's transaction; they never commit on their own.
"""

from django.utils import timezone

from governance.audit import current_context

from .choices import EventKind
from .models import Incident, IncidentEvent


def _actor(actor):
    if actor is not None and getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None):
        return actor, actor.get_username()
    ctx = current_context()
    if ctx.api_key is not None:
        return None, f"api-key:{ctx.api_key.name}"
    if actor is not None and hasattr(actor, "get_username"):
        return None, actor.get_username()
    return None, "system"


def _write(incident: Incident, kind: str, actor=None, message: str = "", occurred_at=None, **data) -> IncidentEvent:
    user, label = _actor(actor)
    return IncidentEvent.objects.create(
        incident=incident,
        kind=kind,
        occurred_at=occurred_at or timezone.now(),
        actor=user,
        actor_label=label,
        message=message,
        data=data,
    )


def declared(incident: Incident, actor) -> IncidentEvent:
    return _write(
        incident,
        EventKind.DECLARED,
        actor,
        f"{incident.severity} declared: {incident.title}",
        occurred_at=incident.declared_at,
        severity=incident.severity,
        source=incident.source,
    )


def acknowledged(incident: Incident, actor) -> IncidentEvent:
    late = incident.acknowledged_at > incident.ack_due_at
    return _write(
        incident,
        EventKind.ACKNOWLEDGED,
        actor,
        "Acknowledged" + (" after the deadline" if late else ""),
        occurred_at=incident.acknowledged_at,
        seconds_to_ack=int((incident.acknowledged_at - incident.declared_at).total_seconds()),
        within_deadline=not late,
    )


def mitigated(incident: Incident, actor, note: str = "") -> IncidentEvent:
    return _write(incident, EventKind.MITIGATED, actor, note or "Mitigated", occurred_at=incident.mitigated_at)


def resolved(incident: Incident, actor, note: str = "") -> IncidentEvent:
    return _write(incident, EventKind.RESOLVED, actor, note or "Resolved", occurred_at=incident.resolved_at)


def closed(incident: Incident, actor, note: str = "") -> IncidentEvent:
    return _write(incident, EventKind.CLOSED, actor, note or "Closed", occurred_at=incident.closed_at)


def severity_changed(incident: Incident, actor, *, before: str, reason: str) -> IncidentEvent:
    return _write(
        incident,
        EventKind.SEVERITY_CHANGED,
        actor,
        f"Severity {before} → {incident.severity}: {reason}",
        before=before,
        after=incident.severity,
        reason=reason,
    )


def role_assigned(incident: Incident, actor, *, role: str, before, after) -> IncidentEvent:
    name = after.get_username() if after else "nobody"
    return _write(
        incident,
        EventKind.ROLE_ASSIGNED,
        actor,
        f"{role.replace('_', ' ').capitalize()}: {name}",
        role=role,
        before=before.pk if before else None,
        after=after.pk if after else None,
    )


def status_update(incident: Incident, actor, message: str) -> IncidentEvent:
    return _write(incident, EventKind.STATUS_UPDATE, actor, message, occurred_at=incident.last_update_at)


def note(incident: Incident, actor, message: str) -> IncidentEvent:
    return _write(incident, EventKind.NOTE, actor, message)


def details_changed(incident: Incident, actor, *, fields: list[str]) -> IncidentEvent:
    return _write(incident, EventKind.DETAILS_CHANGED, actor, f"Changed {', '.join(fields)}", fields=fields)


def ack_breached(incident: Incident) -> IncidentEvent:
    minutes = incident.ack_minutes
    return _write(
        incident,
        EventKind.ACK_BREACHED,
        None,
        f"Not acknowledged within {minutes} min: acknowledgement deadline breached",
        occurred_at=incident.ack_breached_at,
        ack_due_at=incident.ack_due_at.isoformat(),
    )


def escalated(incident: Incident, *, policy: str = "") -> IncidentEvent:
    return _write(
        incident, EventKind.ESCALATED, None, f"Escalated{f' through {policy}' if policy else ''}", policy=policy
    )


def notification_sent(incident: Incident, *, event_type: str, count: int) -> IncidentEvent:
    return _write(
        incident,
        EventKind.NOTIFICATION_SENT,
        None,
        f"{event_type}: {count} notification(s) queued",
        event_type=event_type,
        count=count,
    )


def update_due(incident: Incident) -> IncidentEvent:
    return _write(
        incident,
        EventKind.UPDATE_DUE,
        None,
        "Status update due; the commander was reminded",
        due_at=incident.next_update_due_at.isoformat(),
    )


def evidence_preserved(incident: Incident, actor, *, evidence) -> IncidentEvent:
    return _write(
        incident,
        EventKind.EVIDENCE_PRESERVED,
        actor,
        f"Evidence preserved: {evidence.original_name} (SHA-256 {evidence.sha256})",
        evidence_id=evidence.pk,
        sha256=evidence.sha256,
        size_bytes=evidence.size_bytes,
    )


def alert_attached(incident: Incident, *, alert) -> IncidentEvent:
    return _write(
        incident,
        EventKind.ALERT_ATTACHED,
        None,
        f"Alert firing: {alert.alertname or alert.fingerprint}",
        alert_id=alert.pk,
        fingerprint=alert.fingerprint,
    )


def alert_resolved(incident: Incident, *, alert) -> IncidentEvent:
    return _write(
        incident,
        EventKind.ALERT_RESOLVED,
        None,
        f"Alert resolved: {alert.alertname or alert.fingerprint}",
        occurred_at=alert.ends_at or timezone.now(),
        alert_id=alert.pk,
        fingerprint=alert.fingerprint,
    )


def recurrence(incident: Incident, *, earlier: Incident) -> list[IncidentEvent]:
    """The link on both timelines: the new incident names the earlier one, the earlier names the new."""
    resolved = f", resolved {timezone.localtime(earlier.resolved_at):%Y-%m-%d %H:%M}" if earlier.resolved_at else ""
    has_postmortem = getattr(earlier, "postmortem", None) is not None
    follow_up = " — its postmortem's action items did not prevent it" if has_postmortem else ""
    return [
        _write(
            incident,
            EventKind.RECURRENCE,
            None,
            f"Recurrence of {earlier.reference} ({earlier.title}){resolved}",
            earlier=earlier.reference,
            earlier_id=earlier.pk,
        ),
        _write(
            earlier,
            EventKind.RECURRENCE,
            None,
            f"Recurred as {incident.reference}{follow_up}",
            recurrence=incident.reference,
            recurrence_id=incident.pk,
        ),
    ]


def postmortem(incident: Incident, actor, message: str, **data) -> IncidentEvent:
    return _write(incident, EventKind.POSTMORTEM, actor, message, **data)


def change_linked(incident: Incident, actor, *, reference: str, title: str, url: str = "", **data) -> IncidentEvent:
    """A change (or one of its deployments) recorded as this incident's suspected cause."""
    return _write(
        incident,
        EventKind.CHANGE_LINKED,
        actor,
        f"Suspected cause: {reference} {title}".strip(),
        reference=reference,
        url=url,
        **data,
    )


def runbook_step(
    incident: Incident,
    actor,
    *,
    runbook: str,
    version: int,
    execution_id: int,
    outcome: str,
    step: int | None = None,
    step_title: str = "",
    output: str = "",
) -> IncidentEvent:
    """A runbook execution's progress: started, each step's outcome, completed (written for runbooks)."""
    where = f"step {step}" + (f" ({step_title})" if step_title else "") if step else ""
    message = f"Runbook «{runbook}» v{version}" + (f", {where}" if where else "") + f": {outcome}"
    if output:
        message += f" — {output}"
    return _write(
        incident,
        EventKind.RUNBOOK_STEP,
        actor,
        message,
        runbook=runbook,
        version=version,
        execution_id=execution_id,
        step=step,
        outcome=outcome,
    )
