from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from governance.models import Service, Team, TimeStampedModel

from .choices import (
    DEFAULT_PROCEDURE_DEADLINE_HOURS,
    DEFAULT_REVIEW_INTERVAL_DAYS,
    ExecutionPurpose,
    ExecutionResult,
    ExecutionStatus,
    ReviewOutcome,
    RunbookStatus,
    StepOutcome,
)


def _history_user(related_name: str = "+"):
    # A plain id, like the audit trail: deleting a user must not rewrite an immutable version.
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name=related_name,
    )


class Runbook(TimeStampedModel):
    """What a runbook applies to and how it is kept alive; its content lives in versions."""

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    # PROTECT: a service with runbooks is renamed or its runbooks retired, never silently orphaned.
    # No service: the runbook applies to every service (matched by severity or alert name).
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.PROTECT, related_name="runbooks")
    severities = models.JSONField(default=list, blank=True, help_text='Severities it applies to, e.g. ["SEV1"].')
    alert_names = models.JSONField(default=list, blank=True, help_text="Alertmanager alert names it applies to.")
    # SET_NULL: a team that goes leaves its runbooks for another owner to adopt.
    owner_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="runbooks")
    review_interval_days = models.PositiveIntegerField(
        default=DEFAULT_REVIEW_INTERVAL_DAYS, validators=[MinValueValidator(1), MaxValueValidator(3660)]
    )
    status = models.CharField(max_length=16, choices=RunbookStatus.choices, default=RunbookStatus.DRAFT)
    current_version = models.ForeignKey(
        "RunbookVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    first_published_at = models.DateTimeField(null=True, blank=True)
    last_reviewed_at = models.DateTimeField(null=True, blank=True)

    # Scheduled procedure: a named cadence (daily, weekly, monthly, quarterly) or a cron expression.
    cadence = models.CharField(max_length=100, blank=True)
    cadence_timezone = models.CharField(max_length=64, default="UTC")
    cadence_since = models.DateTimeField(null=True, blank=True, help_text="Slots before this are never created.")
    procedure_deadline_hours = models.PositiveIntegerField(
        default=DEFAULT_PROCEDURE_DEADLINE_HOURS, validators=[MinValueValidator(1)]
    )
    # Who does the procedure: this person, or (when on-call) the owner team's on-call primary.
    procedure_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assign_on_call = models.BooleanField(default=False, verbose_name="assign the owner team's on-call primary")

    class Meta:
        ordering = ["title", "pk"]
        permissions = [
            ("publish_runbook", "Can publish runbook versions"),
            ("review_runbook", "Can record runbook reviews"),
        ]
        indexes = [
            models.Index(fields=["status", "service"], name="runbook_status_service"),
            models.Index(fields=["title", "id"], name="runbook_title"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="published") | Q(current_version__isnull=False),
                name="runbook_published_has_version",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def review_clock_start(self):
        """The cadence runs from the last real review; before any, from the first publication."""
        return self.last_reviewed_at or self.first_published_at

    @property
    def review_due_at(self):
        start = self.review_clock_start
        return start + timedelta(days=self.review_interval_days) if start else None


class RunbookVersion(models.Model):
    """One version of a runbook's content. Once published it never changes: database triggers
    refuse UPDATE and DELETE of a published row (migration 0002)."""

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    body = models.TextField(help_text="Markdown; steps are '## Step' sections with fenced command blocks.")
    steps = models.JSONField(
        default=list, help_text="Parsed from the body: title, instruction, command, expected, rollback."
    )
    change_summary = models.CharField(max_length=300, blank=True)
    content_sha256 = models.CharField(max_length=64)
    source = models.CharField(max_length=300, blank=True, help_text="admin, or the file it was imported from.")
    created_at = models.DateTimeField()
    author = _history_user()
    author_label = models.CharField(max_length=200, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    approved_by = _history_user()
    approved_by_label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["runbook", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "number"], name="runbookversion_unique_number"),
            models.CheckConstraint(
                condition=Q(published_at__isnull=True) | ~Q(approved_by_label=""),
                name="runbookversion_published_has_approver",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.runbook.title} v{self.number}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class RunbookReview(models.Model):
    """A review is an explicit act; the review cadence is measured from the last one."""

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="reviews")
    version = models.ForeignKey(RunbookVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reviewer = _history_user()
    reviewer_label = models.CharField(max_length=200)
    reviewed_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=ReviewOutcome.choices)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-reviewed_at", "-id"]
        indexes = [models.Index(fields=["runbook", "-reviewed_at"], name="runbookreview_recent")]

    def __str__(self) -> str:
        return f"{self.runbook.title}: {self.get_outcome_display()} ({self.reviewed_at:%Y-%m-%d})"


class RunbookExecution(TimeStampedModel):
    """One run of a runbook version: for an incident, a restore drill (linked from backups) or a
    scheduled procedure."""

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="executions")
    version = models.ForeignKey(RunbookVersion, on_delete=models.PROTECT, related_name="executions")
    purpose = models.CharField(max_length=16, choices=ExecutionPurpose.choices)
    # PROTECT: incidents are never deleted; an execution is part of their record.
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.PROTECT, related_name="runbook_executions"
    )
    status = models.CharField(max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING)
    result = models.CharField(max_length=16, choices=ExecutionResult.choices, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.TextField(blank=True)
    # Scheduled procedures: the slot it was created for, its deadline, and when it went overdue.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True)
    missed_slots = models.PositiveIntegerField(default=0, help_text="Earlier slots missed while Vigil was down.")

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("run_runbook", "Can start runbook executions and record step outcomes")]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="execution_recent"),
            models.Index(fields=["status", "-created_at", "-id"], name="execution_status_recent"),
            models.Index(fields=["incident", "-created_at"], name="execution_incident"),
            models.Index(
                fields=["due_at"],
                name="execution_procedure_open_due",
                condition=Q(purpose="procedure", status__in=["pending", "in_progress"], overdue_at__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(purpose="incident") | Q(incident__isnull=False), name="execution_incident_has_incident"
            ),
            models.CheckConstraint(
                condition=~Q(purpose="procedure") | Q(scheduled_for__isnull=False),
                name="execution_procedure_has_slot",
            ),
            # Whatever the concurrency or the number of job runs, one execution per procedure slot.
            models.UniqueConstraint(
                fields=["runbook", "scheduled_for"],
                condition=Q(purpose="procedure"),
                name="execution_one_per_procedure_slot",
            ),
            models.CheckConstraint(
                condition=~Q(status="completed") | Q(completed_at__isnull=False), name="execution_completed_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.runbook.title} v{self.version.number}: {self.get_purpose_display().lower()} run #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in (ExecutionStatus.PENDING, ExecutionStatus.IN_PROGRESS)


class StepResult(models.Model):
    """The outcome of one step of an execution, recorded once by the operator."""

    execution = models.ForeignKey(RunbookExecution, on_delete=models.CASCADE, related_name="step_results")
    position = models.PositiveIntegerField(help_text="1-based step number in the version.")
    outcome = models.CharField(max_length=16, choices=StepOutcome.choices)
    output = models.TextField(blank=True)
    operator = _history_user()
    operator_label = models.CharField(max_length=200)
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["execution", "position"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "position"], name="stepresult_once_per_step"),
        ]

    def __str__(self) -> str:
        return f"step {self.position}: {self.outcome}"
