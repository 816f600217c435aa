from django.db import models


class TargetKind(models.TextChoices):
    POSTGRESQL = "postgresql", "PostgreSQL"
    SQLITE = "sqlite", "SQLite"
    FILESYSTEM = "filesystem", "Filesystem"
    OBJECT_STORE = "object-store", "Object store"
    OTHER = "other", "Other"


# Kinds Vigil can restore itself into a scratch database (automated drills).
AUTOMATABLE_KINDS = (TargetKind.POSTGRESQL, TargetKind.SQLITE)


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RunKind(models.TextChoices):
    FULL = "full", "Full"
    INCREMENTAL = "incremental", "Incremental"
    DIFFERENTIAL = "differential", "Differential"


class RunSource(models.TextChoices):
    API = "api", "API"
    COMMAND = "command", "Command"
    TOOL_REPORT = "tool", "Backup tool report"
    EXECUTOR = "executor", "Vigil executor"
    DEMO = "demo", "Demo data"


class Tool(models.TextChoices):
    RESTIC = "restic", "restic"
    PGBACKREST = "pgbackrest", "pgBackRest"
    WALG = "walg", "WAL-G"
    BARMAN = "barman", "Barman"


class DrillMode(models.TextChoices):
    MANUAL = "manual", "Manual (runbook)"
    AUTOMATED = "automated", "Automated"


class DrillStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    OVERDUE = "overdue", "Overdue"


OPEN_DRILL_STATUSES = (DrillStatus.SCHEDULED, DrillStatus.RUNNING, DrillStatus.OVERDUE)
FINISHED_DRILL_STATUSES = (DrillStatus.PASSED, DrillStatus.FAILED)


class ActionItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"


DEFAULT_DRILL_INTERVAL_DAYS = 90
# A scheduled drill not started this long after its date is overdue (drill.overdue once).
DRILL_OVERDUE_AFTER_DAYS = 7
VIGIL_TARGET_SLUG = "vigil"
