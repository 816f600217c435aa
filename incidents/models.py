from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from governance.choices import Severity
from governance.models import Service, TimeStampedModel

from .choices import (
    OPEN_STATUSES,
    POSTMORTEM_DUE_BUSINESS_DAYS,
    ActionItemKind,
    ActionItemStatus,
    AlertStatus,
    EventKind,
    IncidentSource,
    IncidentStatus,
    PostmortemStatus,
)

REFERENCE_PREFIX = "INC-"


class SeverityPolicy(TimeStampedModel):
    """Deadlines per severity. An incident copies these values when declared and keeps them."""

    severity = models.CharField(max_length=8, choices=Severity.choices, unique=True)
    ack_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)], help_text="Minutes to acknowledge.")
    update_every_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Status-update cadence; empty: none."
    )
    postmortem_required = models.BooleanField(default=False)
    postmortem_due_business_days = models.PositiveSmallIntegerField(default=POSTMORTEM_DUE_BUSINESS_DAYS)

    class Meta:
        ordering = ["severity"]
        verbose_name_plural = "severity policies"
        constraints = [
            models.CheckConstraint(condition=Q(ack_minutes__gte=1), name="severitypolicy_ack_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.severity} policy"


class Incident(TimeStampedModel):
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    status = models.CharField(max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.DECLARED)
    # PROTECT: a service with incidents is history; it is renamed, not deleted.
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="incidents")
    # People leave; the incident keeps its history (the timeline names them).
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="commanded_incidents"
    )
    communications_lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scribe = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    customer_impact = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=IncidentSource.choices, default=IncidentSource.MANUAL)
    chat_url = models.URLField(blank=True, verbose_name="chat / war-room link")
    dedup_key = models.CharField(max_length=200, blank=True)
    # An alert group that fires again after its incident was resolved opens a new incident linked here.
    # SET_NULL: incidents are never deleted in practice; if one were, the recurrence keeps its own history.
    recurrence_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="recurrences"
    )

    # The policy values this incident was declared under (or last re-classified to).
    ack_minutes = models.PositiveIntegerField()
    update_every_minutes = models.PositiveIntegerField(null=True, blank=True)
    postmortem_required = models.BooleanField(default=False)
    postmortem_due_business_days = models.PositiveSmallIntegerField(default=POSTMORTEM_DUE_BUSINESS_DAYS)

    declared_at = models.DateTimeField()
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ack_due_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ack_breached = models.BooleanField(default=False)
    ack_breached_at = models.DateTimeField(null=True, blank=True)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_update_at = models.DateTimeField(null=True, blank=True)
    next_update_due_at = models.DateTimeField(null=True, blank=True)
    update_reminded_at = models.DateTimeField(null=True, blank=True)
    postmortem_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-declared_at", "-id"]
        permissions = [
            ("acknowledge_incident", "Can acknowledge incidents"),
            ("post_incident_update", "Can post status updates and notes"),
            ("command_incident", "Can change severity and assign roles"),
            ("resolve_incident", "Can mitigate and resolve incidents"),
            ("close_incident", "Can close incidents"),
        ]
        indexes = [
            # The admin changelist: newest first, filtered by status or severity, id as tie-breaker.
            models.Index(fields=["-declared_at", "-id"], name="incident_recent"),
            models.Index(fields=["status", "-declared_at", "-id"], name="incident_status_recent"),
            models.Index(fields=["severity", "-declared_at", "-id"], name="incident_severity_recent"),
            models.Index(fields=["service", "-declared_at", "-id"], name="incident_service_recent"),
            # The ack sweeper: only unacknowledged, unbreached incidents.
            models.Index(
                fields=["ack_due_at"],
                name="incident_awaiting_ack",
                condition=Q(status="declared", ack_breached=False),
            ),
            models.Index(
                fields=["next_update_due_at"],
                name="incident_update_due",
                condition=Q(status__in=["declared", "acknowledged", "mitigated"]),
            ),
            # The release gate's open_incident check: a service's open incidents, newest first, however
            # long its history (the statuses are literals in that query, so its prepared plan can use this).
            models.Index(
                fields=["service", "-declared_at", "-id"],
                name="incident_open_by_service",
                condition=Q(status__in=["declared", "acknowledged", "mitigated"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"],
                condition=Q(status__in=[s.value for s in OPEN_STATUSES]) & ~Q(dedup_key=""),
                name="incident_one_open_per_dedup_key",
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True) | Q(acknowledged_at__gte=F("declared_at")),
                name="incident_ack_after_declared",
            ),
            models.CheckConstraint(
                condition=Q(status="declared") | Q(acknowledged_at__isnull=False),
                name="incident_past_declared_is_acknowledged",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["resolved", "closed"]) | Q(resolved_at__isnull=False),
                name="incident_resolved_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="closed") | Q(closed_at__isnull=False), name="incident_closed_has_time"
            ),
            models.CheckConstraint(
                condition=Q(ack_breached=False) | Q(ack_breached_at__isnull=False), name="incident_breach_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def reference(self) -> str:
        return f"{REFERENCE_PREFIX}{self.pk}" if self.pk else f"{REFERENCE_PREFIX}?"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class IncidentEvent(models.Model):
    """The timeline: append-only, written only by `incidents.events`."""

    # CASCADE is never exercised: incidents are evidence and cannot be deleted in the admin or API.
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    occurred_at = models.DateTimeField()
    # A plain id, like the audit trail: deleting a user must not rewrite the timeline.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["incident", "-occurred_at", "-id"], name="incidentevent_timeline")]
        constraints = [
            # Whatever the concurrency, an incident is acknowledged once.
            models.UniqueConstraint(
                fields=["incident"], condition=Q(kind="acknowledged"), name="incidentevent_one_ack"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"


def evidence_path(instance, filename: str) -> str:
    return f"incidents/evidence/{instance.incident_id}/{filename}"


class Evidence(models.Model):
    """A preserved file: who, when and its SHA-256, so later tampering shows."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="evidence")
    file = models.FileField(upload_to=evidence_path, max_length=300)
    original_name = models.CharField(max_length=255)
    description = models.CharField(max_length=300, blank=True)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    uploaded_at = models.DateTimeField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        verbose_name_plural = "evidence"

    def __str__(self) -> str:
        return f"{self.original_name} ({self.sha256[:12]})"


class AlertmanagerPayload(models.Model):
    """An Alertmanager webhook body, stored as received before any processing."""

    received_at = models.DateTimeField(db_index=True)
    body = models.TextField()
    group_key = models.TextField(blank=True)
    alert_count = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["received_at", "id"], name="ampayload_unprocessed", condition=Q(processed_at=None)),
        ]

    def __str__(self) -> str:
        return f"Alertmanager payload #{self.pk} ({self.alert_count} alerts)"


class Alert(models.Model):
    """One Alertmanager alert occurrence: `fingerprint` + `starts_at` identify it across deliveries."""

    # SET_NULL never happens (incidents are not deleted); resolved strays may have no incident.
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    fingerprint = models.CharField(max_length=64)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=AlertStatus.choices)
    alertname = models.CharField(max_length=200, blank=True)
    group_key = models.TextField(blank=True)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict, blank=True)
    generator_url = models.TextField(blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["fingerprint", "starts_at"], name="alert_unique_occurrence"),
        ]
        indexes = [models.Index(fields=["incident", "-starts_at"], name="alert_incident")]

    def __str__(self) -> str:
        return f"{self.alertname or self.fingerprint} ({self.status})"


class Postmortem(TimeStampedModel):
    incident = models.OneToOneField(Incident, on_delete=models.PROTECT, related_name="postmortem")
    status = models.CharField(max_length=16, choices=PostmortemStatus.choices, default=PostmortemStatus.DRAFT)
    summary = models.TextField(blank=True)
    impact = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    contributing_factors = models.TextField(blank=True)
    lessons = models.TextField(blank=True, verbose_name="lessons learned")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "due_at"], name="postmortem_status_due"),
            # The dashboard's on-time rate reads the period's postmortems and every unpublished overdue one.
            models.Index(fields=["due_at"], name="postmortem_due"),
            models.Index(fields=["published_at"], name="postmortem_published"),
            models.Index(fields=["due_at"], name="postmortem_unpublished_due", condition=~Q(status="published")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="published") | Q(published_at__isnull=False), name="postmortem_published_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"Postmortem of {self.incident.reference}"


class ActionItem(TimeStampedModel):
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="action_items")
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=ActionItemKind.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_date = models.DateField()
    status = models.CharField(max_length=16, choices=ActionItemStatus.choices, default=ActionItemStatus.OPEN)
    completed_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["status", "due_date", "id"], name="actionitem_status_due")]

    def __str__(self) -> str:
        return self.title


class IncidentDailyStat(models.Model):
    """Roll-up per declaration day (UTC) × severity × service, kept by database triggers (incidents/rollups.py).

    The dashboard and /metrics read these few rows instead of every incident of the period, so their cost
    follows the number of days they show, not the years of history. Every write to an incident, through
    a service, the admin, a factory or raw SQL, moves its contribution between rows in the same transaction.
    """

    day = models.DateField()
    severity = models.CharField(max_length=8, choices=Severity.choices)
    # DO_NOTHING without a constraint: the row is derived state; a service with incidents is never deleted.
    service = models.ForeignKey(Service, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    incidents = models.IntegerField(default=0)
    open_count = models.IntegerField(default=0)
    tta_count = models.IntegerField(default=0)
    tta_seconds = models.FloatField(default=0)
    ttr_count = models.IntegerField(default=0)
    ttr_seconds = models.FloatField(default=0)
    decided = models.IntegerField(default=0)  # acknowledged or breached: counted for ack-SLA compliance
    met = models.IntegerField(default=0)  # acknowledged within the deadline
    breached = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "severity", "service"], name="incident_daily_stat_key"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.severity} service#{self.service_id}: {self.incidents}"
