from django.db import models

from governance.choices import Severity


class IncidentStatus(models.TextChoices):
    DECLARED = "declared", "Declared"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    MITIGATED = "mitigated", "Mitigated"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


# Work is still going on: the incident can be joined by alerts and deduplicated against.
OPEN_STATUSES = (IncidentStatus.DECLARED, IncidentStatus.ACKNOWLEDGED, IncidentStatus.MITIGATED)

# status → the statuses a transition may lead to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    IncidentStatus.DECLARED: (IncidentStatus.ACKNOWLEDGED,),
    IncidentStatus.ACKNOWLEDGED: (IncidentStatus.MITIGATED, IncidentStatus.RESOLVED),
    IncidentStatus.MITIGATED: (IncidentStatus.RESOLVED,),
    IncidentStatus.RESOLVED: (IncidentStatus.CLOSED,),
    IncidentStatus.CLOSED: (),
}


class IncidentSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    API = "api", "API"
    ALERT = "alert", "Alert"


class EventKind(models.TextChoices):
    DECLARED = "declared", "Declared"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    MITIGATED = "mitigated", "Mitigated"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    SEVERITY_CHANGED = "severity_changed", "Severity changed"
    ROLE_ASSIGNED = "role_assigned", "Role assigned"
    STATUS_UPDATE = "status_update", "Status update"
    NOTE = "note", "Note"
    DETAILS_CHANGED = "details_changed", "Details changed"
    ACK_BREACHED = "ack_breached", "Acknowledgement deadline breached"
    ESCALATED = "escalated", "Escalated"
    NOTIFICATION_SENT = "notification_sent", "Notification sent"
    UPDATE_DUE = "update_due", "Status update due"
    EVIDENCE_PRESERVED = "evidence_preserved", "Evidence preserved"
    RUNBOOK_STEP = "runbook_step", "Runbook step"
    ALERT_ATTACHED = "alert_attached", "Alert attached"
    ALERT_RESOLVED = "alert_resolved", "Alert resolved"
    POSTMORTEM = "postmortem", "Postmortem"
    RECURRENCE = "recurrence", "Recurrence"
    CHANGE_LINKED = "change_linked", "Change linked"


class IncidentRole(models.TextChoices):
    COMMANDER = "commander", "Commander"
    COMMUNICATIONS_LEAD = "communications_lead", "Communications lead"
    SCRIBE = "scribe", "Scribe"


class AlertStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class PostmortemStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    PUBLISHED = "published", "Published"


class ActionItemKind(models.TextChoices):
    CORRECTIVE = "corrective", "Corrective"
    PREVENTIVE = "preventive", "Preventive"
    DETECTIVE = "detective", "Detective"


class ActionItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


ACTION_ITEM_OPEN_STATUSES = (ActionItemStatus.OPEN, ActionItemStatus.IN_PROGRESS)

# The seeded policy per severity: (ack minutes, update cadence minutes or None, postmortem required)
DEFAULT_POLICIES = {
    Severity.SEV1: (5, 30, True),
    Severity.SEV2: (15, 60, True),
    Severity.SEV3: (60, None, False),
}
POSTMORTEM_DUE_BUSINESS_DAYS = 5
