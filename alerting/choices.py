from django.db import models


class EventType(models.TextChoices):
    """Event types routed (CONTRACTS.md, end)."""

    INCIDENT_DECLARED = "incident.declared"
    INCIDENT_ACKNOWLEDGED = "incident.acknowledged"
    INCIDENT_ACK_BREACHED = "incident.ack_breached"
    INCIDENT_ESCALATED = "incident.escalated"
    INCIDENT_UPDATE_DUE = "incident.update_due"
    INCIDENT_RESOLVED = "incident.resolved"
    POSTMORTEM_DUE = "postmortem.due"
    ACTION_ITEM_OVERDUE = "action_item.overdue"
    BACKUP_FAILED = "backup.failed"
    BACKUP_RPO_BREACHED = "backup.rpo_breached"
    DRILL_FAILED = "drill.failed"
    DRILL_OVERDUE = "drill.overdue"
    ACCESS_REVIEW_LAUNCHED = "access_review.launched"
    ACCESS_REVIEW_REMINDER = "access_review.reminder"
    ACCESS_REVIEW_OVERDUE = "access_review.overdue"
    ACCESS_ORPHANED_GRANT = "access.orphaned_grant"
    RUNBOOK_REVIEW_DUE = "runbook.review_due"
    PROCEDURE_DUE = "procedure.due"
    NOTIFICATION_DEAD_LETTER = "notification.dead_letter"
    JOB_STALE = "job.stale"
    AUDIT_CHAIN_BROKEN = "audit.chain_broken"
    CHANGE_SUSPECT = "change.suspect"
    CHANGE_APPROVAL_DUE = "change.approval_due"
    SECURITY_AUTH_FAILURES = "security.auth_failures"
    SLO_BURN_RATE = "slo.burn_rate"
    SLO_BUDGET_WARNING = "slo.budget_warning"
    SLO_BUDGET_EXHAUSTED = "slo.budget_exhausted"
    SLO_EVALUATION_FAILED = "slo.evaluation_failed"
    # Vigil's own addition: the admin's "send test" (never routed).
    CHANNEL_TEST = "channel.test"


class ChannelKind(models.TextChoices):
    SLACK_WEBHOOK = "slack_webhook", "Slack webhook"
    PAGERDUTY_EVENTS_V2 = "pagerduty_events_v2", "PagerDuty Events API v2"
    GENERIC_WEBHOOK = "generic_webhook", "Generic webhook"
    EMAIL = "email", "Email"


class PagerDutyAction(models.TextChoices):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    DEAD_LETTER = "dead_letter", "Dead letter"
    DISCARDED = "discarded", "Discarded"


class AttemptOutcome(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    RETRY = "retry", "Failed, will retry"
    FAILED = "failed", "Failed, final"


class StepTarget(models.TextChoices):
    PRIMARY = "primary", "Primary on call"
    SECONDARY = "secondary", "Secondary on call"
    USER = "user", "A named user"
    TEAM_MANAGER = "team_manager", "The team's manager"
    CHANNEL = "channel", "A channel"


class EscalationStatus(models.TextChoices):
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"
    COMPLETED = "completed", "Completed (all steps fired)"


class OnCallRole(models.TextChoices):
    PRIMARY = "primary", "Primary"
    SECONDARY = "secondary", "Secondary"
