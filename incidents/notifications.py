"""The one place incidents talk to `alerting`: notifications and escalations for an incident."""

from governance.links import admin_url

from . import events
from .models import Incident


def escalation_key(incident: Incident) -> str:
    return f"incident:{incident.pk}"


def subject(incident: Incident) -> str:
    return f"[{incident.severity}] {incident.reference}: {incident.title}"


def _data(incident: Incident) -> dict:
    return {
        "id": incident.pk,
        "reference": incident.reference,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "service": incident.service.slug,
        "commander": incident.commander.get_username() if incident.commander else None,
        "declared_at": incident.declared_at.isoformat(),
        "ack_due_at": incident.ack_due_at.isoformat(),
        "acknowledged_at": incident.acknowledged_at.isoformat() if incident.acknowledged_at else None,
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "url": admin_url(incident),
    }


def _common(incident: Incident) -> dict:
    return {
        "severity": incident.severity,
        "service": incident.service,
        "team": incident.service.owner_team,
        "links": [{"label": f"{incident.reference} in Vigil", "url": admin_url(incident)}],
        "data": _data(incident),
        "dedup_key": incident.reference,
    }


def notify_incident(
    incident: Incident, event_type: str, *, key: str, action: str = "trigger", body: str = "", recipients=None
) -> int:
    """Queue `event_type` for the incident (delivered on commit); records it on the timeline."""
    from alerting.services import notify

    notifications = notify(
        event_type,
        subject=subject(incident),
        idempotency_key=f"incident:{incident.pk}:{key}",
        body=body or incident.summary,
        action=action,
        recipients=recipients,
        **_common(incident),
    )
    count = len(notifications or [])
    if count:
        events.notification_sent(incident, event_type=event_type, count=count)
    return count


def escalate_incident(incident: Incident, *, body: str = ""):
    """Start the routing rule's escalation policy for the incident."""
    from alerting.services import escalation_start

    common = _common(incident)
    return escalation_start(
        key=escalation_key(incident),
        event_type="incident.escalated",
        subject=subject(incident),
        body=body or f"{incident.reference} was not acknowledged within {incident.ack_minutes} min.",
        **common,
    )


def stop_escalation(incident: Incident, *, reason: str) -> bool:
    from alerting.services import escalation_stop

    return escalation_stop(key=escalation_key(incident), reason=reason)
