from django.db.models import Max, Q

from .choices import JobOutcome
from .models import JobRun


def job_freshness(*, job_name: str) -> dict | None:
    """Last start, last success and last failure of one job, in one query."""
    row = JobRun.objects.filter(job=job_name).aggregate(
        last_started_at=Max("started_at"),
        last_success_at=Max("finished_at", filter=Q(outcome=JobOutcome.SUCCEEDED)),
        last_failure_at=Max("finished_at", filter=Q(outcome=JobOutcome.FAILED)),
    )
    return row if row["last_started_at"] else None


def jobs_freshness(*, job_names: list[str]) -> dict[str, dict]:
    """`job_freshness` for many jobs in one query."""
    rows = (
        JobRun.objects.filter(job__in=job_names)
        .values("job")
        .annotate(
            last_started_at=Max("started_at"),
            last_success_at=Max("finished_at", filter=Q(outcome=JobOutcome.SUCCEEDED)),
            last_failure_at=Max("finished_at", filter=Q(outcome=JobOutcome.FAILED)),
        )
    )
    return {row["job"]: row for row in rows}


def platform_installed_at():
    """When Vigil's first migration ran on this database (None before it has)."""
    from django.db.migrations.recorder import MigrationRecorder

    return (
        MigrationRecorder.Migration.objects.filter(app="governance", name="0001_initial")
        .values_list("applied", flat=True)
        .first()
    )
