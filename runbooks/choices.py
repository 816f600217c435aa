from django.db import models


class RunbookStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class ExecutionPurpose(models.TextChoices):
    INCIDENT = "incident", "Incident"
    DRILL = "drill", "Drill"
    PROCEDURE = "procedure", "Scheduled procedure"


class ExecutionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    ABANDONED = "abandoned", "Abandoned"


OPEN_EXECUTION_STATUSES = (ExecutionStatus.PENDING, ExecutionStatus.IN_PROGRESS)


class ExecutionResult(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (a step failed)"


class StepOutcome(models.TextChoices):
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class ReviewOutcome(models.TextChoices):
    STILL_VALID = "still_valid", "Still valid"
    UPDATED = "updated", "Updated"
    RETIRE = "retire", "Retire"


class Cadence(models.TextChoices):
    """Named cadences; any other non-empty value is a cron expression (croniter)."""

    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"


# The cron expression each named cadence stands for, in the runbook's time zone (09:00 local).
CADENCE_CRON = {
    Cadence.DAILY: "0 9 * * *",
    Cadence.WEEKLY: "0 9 * * 1",
    Cadence.MONTHLY: "0 9 1 * *",
    Cadence.QUARTERLY: "0 9 1 1,4,7,10 *",
}

ON_CALL_ASSIGNEE = "on-call"
DEFAULT_REVIEW_INTERVAL_DAYS = 90
# A review reminder goes out this many days before the due date, and again when overdue.
REVIEW_REMIND_DAYS_BEFORE = 14
DEFAULT_PROCEDURE_DEADLINE_HOURS = 24
