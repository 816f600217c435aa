from datetime import timedelta

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from governance.choices import Severity
from governance.models import Service, Team, TimeStampedModel

from .choices import (
    DEFAULT_DRILL_INTERVAL_DAYS,
    ActionItemStatus,
    DrillMode,
    DrillStatus,
    RunKind,
    RunSource,
    RunStatus,
    TargetKind,
)


class BackupTarget(TimeStampedModel):
    """Something protected by backups, with the objectives its backups and drills are held to."""

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    # PROTECT: a service with backup history is renamed, not deleted.
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="backup_targets")
    kind = models.CharField(max_length=16, choices=TargetKind.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="backup_targets"
    )
    owner_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="backup_targets"
    )
    description = models.TextField(blank=True)
    rpo_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], verbose_name="RPO target (min)", help_text="Most data loss tolerated."
    )
    rto_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], verbose_name="RTO target (min)", help_text="Longest restore tolerated."
    )
    expected_schedule = models.CharField(
        max_length=100, blank=True, help_text="Cron expression of the backup job, e.g. '0 * * * *'."
    )
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    drill_interval_days = models.PositiveIntegerField(
        default=DEFAULT_DRILL_INTERVAL_DAYS, validators=[MinValueValidator(1)]
    )
    automated_drills = models.BooleanField(
        default=False, help_text="Vigil restores the newest backup into a scratch database (PostgreSQL, SQLite)."
    )
    canary_query = models.TextField(
        blank=True, help_text="SQL run on the restored copy; its first value must be non-empty (or equal below)."
    )
    canary_expected = models.CharField(max_length=200, blank=True)
    # SET_NULL: a retired or deleted runbook leaves the target without one, which the scorecard shows.
    restore_runbook = models.ForeignKey(
        "runbooks.Runbook",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="backup_targets",
        help_text="Followed step by step in manual drills.",
    )
    open_incident_on_breach = models.BooleanField(default=False)
    incident_severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.SEV2)
    enabled = models.BooleanField(default=True)

    # Kept by the services so lists and the monitor never aggregate runs.
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    rpo_breached_since = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["slug"]
        indexes = [models.Index(fields=["enabled", "last_success_at", "id"], name="backuptarget_freshness")]
        constraints = [
            models.CheckConstraint(condition=Q(rpo_minutes__gte=1), name="backuptarget_rpo_positive"),
            models.CheckConstraint(condition=Q(rto_minutes__gte=1), name="backuptarget_rto_positive"),
            models.CheckConstraint(condition=Q(drill_interval_days__gte=1), name="backuptarget_drill_interval"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def rpo(self) -> timedelta:
        return timedelta(minutes=self.rpo_minutes)

    @property
    def rto(self) -> timedelta:
        return timedelta(minutes=self.rto_minutes)


class BackupRun(TimeStampedModel):
    """One backup, as reported by its tool, the API, a command or made by Vigil."""

    # PROTECT: runs are the evidence that backups happened.
    target = models.ForeignKey(BackupTarget, on_delete=models.PROTECT, related_name="runs")
    external_id = models.CharField(
        max_length=200, blank=True, help_text="The tool's snapshot id / backup label; reporting it again updates."
    )
    status = models.CharField(max_length=16, choices=RunStatus.choices)
    kind = models.CharField(max_length=16, choices=RunKind.choices, default=RunKind.FULL)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    recovery_point_at = models.DateTimeField(
        null=True, blank=True, help_text="Newest moment the backup can restore to (default: its finish)."
    )
    recovery_point_detail = models.CharField(max_length=200, blank=True, help_text="e.g. the WAL range.")
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    location = models.CharField(max_length=1000, blank=True)
    tool = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=16, choices=RunSource.choices, default=RunSource.API)
    manifest = models.JSONField(default=dict, blank=True, help_text="Per table: row count and content hash.")
    raw = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["target", "status", "-recovery_point_at", "-id"], name="backuprun_target_newest"),
            models.Index(fields=["-started_at", "-id"], name="backuprun_recent"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["target", "external_id"], condition=~Q(external_id=""), name="backuprun_external_id_unique"
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=F("started_at")),
                name="backuprun_finished_after_start",
            ),
        ]

    def __str__(self) -> str:
        label = self.external_id[:24] or f"#{self.pk}"
        return f"{self.target.slug} {label} ({self.status})"


class RpoBreach(TimeStampedModel):
    """A period in which a target's newest good backup was older than its RPO: opened once, cleared once."""

    target = models.ForeignKey(BackupTarget, on_delete=models.PROTECT, related_name="rpo_breaches")
    detected_at = models.DateTimeField()
    newest_success_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    # SET_NULL: the breach's history outlives a run deleted by an admin.
    cleared_by_run = models.ForeignKey(
        BackupRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="cleared_breaches"
    )
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="rpo_breaches"
    )

    class Meta:
        ordering = ["-detected_at", "-id"]
        verbose_name = "RPO breach"
        constraints = [
            models.UniqueConstraint(
                fields=["target"], condition=Q(cleared_at__isnull=True), name="rpobreach_one_open_per_target"
            )
        ]

    def __str__(self) -> str:
        state = "open" if self.cleared_at is None else "cleared"
        return f"{self.target.slug} RPO breach {self.detected_at:%Y-%m-%d %H:%M} ({state})"


def drill_evidence_path(instance, filename: str) -> str:
    return f"backups/drills/{instance.drill_id}/{filename}"


class RestoreDrill(TimeStampedModel):
    """A restore of one backup, timed and checked: the proof that backups restore."""

    target = models.ForeignKey(BackupTarget, on_delete=models.PROTECT, related_name="drills")
    backup_run = models.ForeignKey(BackupRun, null=True, blank=True, on_delete=models.PROTECT, related_name="drills")
    mode = models.CharField(max_length=16, choices=DrillMode.choices, default=DrillMode.MANUAL)
    # PROTECT: the version followed is part of the drill's evidence (published versions never change).
    runbook_version = models.ForeignKey(
        "runbooks.RunbookVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="restore_drills"
    )
    runbook_execution = models.ForeignKey(
        "runbooks.RunbookExecution", null=True, blank=True, on_delete=models.PROTECT, related_name="restore_drills"
    )
    status = models.CharField(max_length=16, choices=DrillStatus.choices, default=DrillStatus.SCHEDULED)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    restored_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Computed by the services from the timestamps above, never typed.
    measured_rto_seconds = models.FloatField(null=True, blank=True, editable=False)
    achieved_rpo_seconds = models.FloatField(null=True, blank=True, editable=False)
    # The objectives in force when the drill started.
    rto_target_minutes = models.PositiveIntegerField(null=True, blank=True, editable=False)
    rpo_target_minutes = models.PositiveIntegerField(null=True, blank=True, editable=False)
    rto_met = models.BooleanField(null=True, editable=False)
    rpo_met = models.BooleanField(null=True, editable=False)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    participants = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="restore_drills")
    findings = models.TextField(blank=True)
    failure_reason = models.TextField(blank=True)
    scratch_name = models.CharField(max_length=200, blank=True, help_text="Scratch database or file restored into.")
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)
    overdue_notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("run_restoredrill", "Can run restore drills"),
            ("signoff_restoredrill", "Can sign off restore drills"),
        ]
        indexes = [
            models.Index(fields=["target", "status", "-verified_at", "-id"], name="drill_target_status"),
            models.Index(fields=["status", "scheduled_for", "id"], name="drill_status_scheduled"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(verified_at__isnull=True) | Q(started_at__isnull=False),
                name="drill_verified_needs_start",
            ),
            models.CheckConstraint(
                condition=Q(verified_at__isnull=True) | Q(verified_at__gte=F("started_at")),
                name="drill_verified_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"Drill #{self.pk} of {self.target.slug} ({self.status})"


class DrillCheck(models.Model):
    drill = models.ForeignKey(RestoreDrill, on_delete=models.CASCADE, related_name="checks")
    name = models.CharField(max_length=120)
    expected = models.TextField(blank=True)
    actual = models.TextField(blank=True)
    passed = models.BooleanField(null=True, help_text="Empty: skipped.")
    detail = models.TextField(blank=True)
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["drill", "id"]

    def __str__(self) -> str:
        outcome = {True: "passed", False: "FAILED", None: "skipped"}[self.passed]
        return f"{self.name}: {outcome}"


class DrillEvidence(models.Model):
    drill = models.ForeignKey(RestoreDrill, on_delete=models.PROTECT, related_name="evidence")
    file = models.FileField(upload_to=drill_evidence_path, max_length=300)
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
        verbose_name_plural = "drill evidence"

    def __str__(self) -> str:
        return f"{self.original_name} ({self.sha256[:12]})"


class DrillActionItem(TimeStampedModel):
    """A follow-up a drill found: fix the runbook, shorten the restore, add a check."""

    drill = models.ForeignKey(RestoreDrill, on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=ActionItemStatus.choices, default=ActionItemStatus.OPEN)

    class Meta:
        ordering = ["status", "due_date", "id"]

    def __str__(self) -> str:
        return self.title
