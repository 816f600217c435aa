import secrets
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from governance.models import Service, TimeStampedModel
from incidents.models import Incident

from .choices import (
    ChangeEventKind,
    ChangeKind,
    ChangeRisk,
    ChangeStatus,
    DeploymentStatus,
    ExceptionStatus,
    FreezeRecurrence,
)

REFERENCE_PREFIX = "CHG-"
DEFAULT_WATCH_MINUTES = 60


def _token() -> str:
    return secrets.token_urlsafe(32)


class Change(TimeStampedModel):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    services = models.ManyToManyField(Service, related_name="changes")
    kind = models.CharField(max_length=16, choices=ChangeKind.choices, default=ChangeKind.NORMAL)
    risk = models.CharField(max_length=8, choices=ChangeRisk.choices, default=ChangeRisk.MEDIUM)
    status = models.CharField(max_length=16, choices=ChangeStatus.choices, default=ChangeStatus.DRAFT)
    planned_start = models.DateTimeField(null=True, blank=True)
    planned_end = models.DateTimeField(null=True, blank=True)
    actual_start = models.DateTimeField(null=True, blank=True)
    actual_end = models.DateTimeField(null=True, blank=True)
    # People leave; the change keeps its history (the timeline names them).
    implementer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="implemented_changes"
    )
    approvers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="changes_to_approve")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rollback_plan = models.TextField(blank=True)
    pull_request_url = models.URLField(max_length=500, blank=True, verbose_name="pull request")
    pipeline_url = models.URLField(max_length=500, blank=True, verbose_name="pipeline run")
    release_tag = models.CharField(max_length=200, blank=True)
    migration_hash = models.CharField(max_length=128, blank=True, verbose_name="migration or schema hash")
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Emergency changes: approval is due by this time (after the fact).
    approval_due_at = models.DateTimeField(null=True, blank=True)
    approval_reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("approve_change", "Can approve changes")]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="change_recent"),
            models.Index(fields=["status", "-created_at", "-id"], name="change_status_recent"),
            models.Index(fields=["planned_start", "id"], name="change_planned"),
            models.Index(fields=["release_tag"], name="change_release_tag"),
            models.Index(
                fields=["approval_due_at"],
                name="change_approval_due",
                condition=Q(kind="emergency", approved_at__isnull=True, approval_reminded_at__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_end__isnull=True)
                | Q(planned_start__isnull=True)
                | Q(planned_end__gt=F("planned_start")),
                name="change_planned_end_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(approved_at__isnull=False), name="change_approved_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def reference(self) -> str:
        return f"{REFERENCE_PREFIX}{self.pk}" if self.pk else f"{REFERENCE_PREFIX}?"


class ChangeEvent(models.Model):
    """The change's timeline: append-only, written only by `changes.events`."""

    # CASCADE is never exercised: changes are history and cannot be deleted in the admin or API.
    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=ChangeEventKind.choices)
    occurred_at = models.DateTimeField()
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
        indexes = [models.Index(fields=["change", "-occurred_at", "-id"], name="changeevent_timeline")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"


class Deployment(TimeStampedModel):
    """A deployment reported by CI/CD, always attached to a change (a standard one if none was named)."""

    # PROTECT: a deployment is history; its service and change are renamed, never deleted.
    change = models.ForeignKey(Change, on_delete=models.PROTECT, related_name="deployments")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="deployments")
    environment = models.CharField(max_length=64)
    version = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    pipeline_url = models.URLField(max_length=500, blank=True)
    reported_by = models.CharField(max_length=200, blank=True)
    watch_minutes = models.PositiveIntegerField(default=DEFAULT_WATCH_MINUTES, validators=[MinValueValidator(1)])
    in_freeze = models.BooleanField(default=False, help_text="Started inside a freeze window without an exception.")
    # SET_NULL never happens (incidents are not deleted).
    suspect_incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="suspect_deployments"
    )
    suspect_flagged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["-started_at", "-id"], name="deployment_recent"),
            models.Index(fields=["service", "-started_at", "-id"], name="deployment_service_recent"),
            models.Index(fields=["service", "environment", "version"], name="deployment_identity"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "environment", "version", "started_at"], name="deployment_unique_run"
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=F("started_at")),
                name="deployment_finished_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service.slug} {self.version} → {self.environment}"

    @property
    def watch_from(self) -> datetime:
        return self.finished_at or self.started_at


class SuspectedCause(models.Model):
    """ "This change (deployment) caused that incident", recorded on both timelines."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="suspected_causes")
    change = models.ForeignKey(Change, on_delete=models.PROTECT, related_name="suspected_causes")
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.PROTECT, related_name="suspected_causes"
    )
    linked_at = models.DateTimeField()
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-linked_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "deployment"],
                condition=Q(deployment__isnull=False),
                name="cause_one_per_deployment",
            ),
            models.UniqueConstraint(
                fields=["incident", "change"], condition=Q(deployment__isnull=True), name="cause_one_per_change"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.change.reference} → {self.incident.reference}"


class FreezeWindow(TimeStampedModel):
    """A time when changes need an approved exception: one-off, weekly, or a cron start plus a duration."""

    name = models.CharField(max_length=120)
    reason = models.TextField()
    recurrence = models.CharField(max_length=8, choices=FreezeRecurrence.choices, default=FreezeRecurrence.ONCE)
    starts_at = models.DateTimeField(null=True, blank=True, help_text="One-off: start.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="One-off: end.")
    weekdays = models.JSONField(default=list, blank=True, help_text="Weekly: days, 0 = Monday … 6 = Sunday.")
    start_time = models.TimeField(null=True, blank=True, help_text="Weekly: local start time.")
    end_time = models.TimeField(
        null=True, blank=True, help_text="Weekly: local end time (at or before the start: the next day)."
    )
    cron = models.CharField(max_length=120, blank=True, help_text="Cron: when each window starts, e.g. 0 18 * * 5.")
    duration_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="Cron: length of each window.")
    time_zone = models.CharField(max_length=64, default="UTC")
    all_services = models.BooleanField(default=False)
    services = models.ManyToManyField(Service, blank=True, related_name="freeze_windows")
    environments = models.CharField(
        max_length=200, blank=True, help_text="Comma-separated, e.g. production; empty: every environment."
    )
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["active", "recurrence", "ends_at"], name="freeze_active")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(recurrence="once")
                | Q(starts_at__isnull=False, ends_at__isnull=False, ends_at__gt=F("starts_at")),
                name="freeze_once_has_window",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        from .freeze import validate_window

        errors = validate_window(self)
        if errors:
            raise ValidationError(errors)

    def environment_list(self) -> list[str]:
        return [e.strip() for e in self.environments.split(",") if e.strip()]

    def covers_environment(self, environment: str) -> bool:
        wanted = self.environment_list()
        return not wanted or environment in wanted


class FreezeException(TimeStampedModel):
    """Permission to change during a freeze: for a change, or for a service's deployments, for a time."""

    # PROTECT: an exception is evidence of a decision.
    window = models.ForeignKey(FreezeWindow, on_delete=models.PROTECT, related_name="exceptions")
    change = models.ForeignKey(Change, null=True, blank=True, on_delete=models.PROTECT, related_name="exceptions")
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Empty: all services."
    )
    reason = models.TextField()
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    status = models.CharField(max_length=16, choices=ExceptionStatus.choices, default=ExceptionStatus.REQUESTED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-valid_from", "-id"]
        permissions = [("approve_freezeexception", "Can approve freeze exceptions")]
        indexes = [models.Index(fields=["window", "status", "valid_until"], name="freezeexception_valid")]
        constraints = [
            models.CheckConstraint(condition=Q(valid_until__gt=F("valid_from")), name="freezeexception_ends_after"),
        ]

    def __str__(self) -> str:
        return f"Exception to {self.window} ({self.get_status_display().lower()})"


class GateDecision(models.Model):
    """Every answer of the release gate: who asked, for what, allowed or not, and why."""

    # Every pipeline call appends a row, so the table keeps only the indexes something reads (Meta.indexes):
    # no separate index on asked_at or service (the composite ones lead with them).
    asked_at = models.DateTimeField()
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="+", db_index=False)
    environment = models.CharField(max_length=64)
    version = models.CharField(max_length=200)
    change = models.ForeignKey(
        Change, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    allowed = models.BooleanField()
    reasons = models.JSONField(default=list, blank=True)
    # Plain ids like the audit trail: deleting a user or key must not rewrite history.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    actor_api_key_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=200)

    class Meta:
        ordering = ["-asked_at", "-id"]
        permissions = [("ask_release_gate", "Can ask the release gate")]
        indexes = [
            models.Index(fields=["-asked_at", "-id"], name="gatedecision_recent"),
            models.Index(fields=["service", "-asked_at"], name="gatedecision_service"),
            # Only the decisions that name a change (PROTECT looks them up); most name none.
            models.Index(fields=["change"], condition=models.Q(change__isnull=False), name="gatedecision_change"),
        ]

    def __str__(self) -> str:
        return f"{'allowed' if self.allowed else 'refused'}: {self.service_id} {self.version} → {self.environment}"


class ChangeCalendarFeed(TimeStampedModel):
    """A private iCalendar URL of the change calendar; the token is the credential."""

    name = models.CharField(max_length=120)
    token = models.CharField(max_length=64, unique=True, default=_token, editable=False)
    services = models.ManyToManyField(Service, blank=True, related_name="+", help_text="Empty: every service.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "change calendar feed"

    def __str__(self) -> str:
        return self.name
