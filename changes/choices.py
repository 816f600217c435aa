from django.db import models


class ChangeKind(models.TextChoices):
    STANDARD = "standard", "Standard (pre-approved, low risk)"
    NORMAL = "normal", "Normal (needs approval)"
    EMERGENCY = "emergency", "Emergency (approved after the fact)"


class ChangeRisk(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class ChangeStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATUSES = (
    ChangeStatus.COMPLETED,
    ChangeStatus.FAILED,
    ChangeStatus.ROLLED_BACK,
    ChangeStatus.CANCELLED,
)

# The incidents a change answers to: an open one refuses the release gate (open_incident), and one declared
# within a deployment's watch window makes that deployment suspect.
SEVERE_SEVERITIES = ("SEV1", "SEV2")

# status → the statuses a transition may lead to. An emergency change may also start from
# `submitted` (it is approved after the fact); the services add that one edge.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    ChangeStatus.DRAFT: (ChangeStatus.SUBMITTED, ChangeStatus.CANCELLED),
    ChangeStatus.SUBMITTED: (ChangeStatus.APPROVED, ChangeStatus.DRAFT, ChangeStatus.CANCELLED),
    ChangeStatus.APPROVED: (ChangeStatus.IN_PROGRESS, ChangeStatus.CANCELLED),
    ChangeStatus.IN_PROGRESS: (ChangeStatus.COMPLETED, ChangeStatus.FAILED, ChangeStatus.ROLLED_BACK),
    ChangeStatus.COMPLETED: (),
    ChangeStatus.FAILED: (),
    ChangeStatus.ROLLED_BACK: (),
    ChangeStatus.CANCELLED: (),
}


class DeploymentStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"


class FreezeRecurrence(models.TextChoices):
    ONCE = "once", "One-off (start and end)"
    WEEKLY = "weekly", "Weekly (days and hours)"
    CRON = "cron", "Cron expression (start) and duration"


class ExceptionStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class ChangeEventKind(models.TextChoices):
    CREATED = "created", "Created"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    RETURNED = "returned", "Returned to draft"
    STARTED = "started", "Started"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    CANCELLED = "cancelled", "Cancelled"
    DEPLOYMENT = "deployment", "Deployment"
    SUSPECT = "suspect", "Flagged suspect"
    INCIDENT_LINKED = "incident_linked", "Linked to an incident"
    APPROVAL_DUE = "approval_due", "Approval overdue"
    FREEZE_EXCEPTION = "freeze_exception", "Freeze exception"
    DETAILS_CHANGED = "details_changed", "Details changed"


WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
