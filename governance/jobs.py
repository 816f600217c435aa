"""The job ledger and code-declared schedules.

    @scheduled_job("incidents.ack_sweeper", every=timedelta(minutes=1))
    def ack_sweeper() -> str:
        ...
        return "3 incidents escalated"

makes a Celery task whose every run is recorded as a JobRun, and declares its
beat schedule; `sync_schedules()` writes the declarations into
django-celery-beat's tables (on every migrate), keeping the admin's on/off
toggle as it was.
"""

import functools
import json
import logging
import socket
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from .choices import JobOutcome
from .models import JobRun
from .registries import ScheduledJob, scheduled_jobs

logger = logging.getLogger(__name__)

RUN_AT_INSTALL_BACKDATE = timedelta(days=400)  # older than any schedule's period, crontabs included


def scheduled_job(
    name: str,
    *,
    every: timedelta | None = None,
    crontab: dict[str, str] | None = None,
    expected_every: timedelta | None = None,
    description: str = "",
    run_at_install: bool = False,
    **task_options,
):
    """Declare a scheduled job: a Celery task named `name`, run by beat, recorded in the ledger."""
    if (every is None) == (crontab is None):
        raise ValueError("give exactly one of every= or crontab=")

    def decorate(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            return run_recorded(name, func, *args, **kwargs)

        task = shared_task(name=name, ignore_result=True, **task_options)(run)
        scheduled_jobs.register(
            name,
            ScheduledJob(
                name=name,
                task=name,
                every=every,
                crontab=crontab,
                expected_every=expected_every or every or timedelta(days=1),
                description=description or _first_line(func.__doc__),
                run_at_install=run_at_install,
            ),
        )
        return task

    return decorate


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def run_recorded(job: str, func, *args, **kwargs):
    """Run `func` as one ledger entry: running → succeeded (summary) or failed (error)."""
    run = JobRun.objects.create(job=job, worker=socket.gethostname())
    try:
        summary = func(*args, **kwargs)
    except Exception as exc:
        JobRun.objects.filter(pk=run.pk).update(
            finished_at=timezone.now(), outcome=JobOutcome.FAILED, summary=f"{type(exc).__name__}: {exc}"[:2000]
        )
        logger.exception("job %s failed", job)
        raise
    JobRun.objects.filter(pk=run.pk).update(
        finished_at=timezone.now(), outcome=JobOutcome.SUCCEEDED, summary=str(summary or "")[:2000]
    )
    return summary


def sync_schedules(*, using: str = "default") -> int:
    """Write every declared job into django-celery-beat. Returns how many were created."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    created = 0
    with transaction.atomic(using=using):
        for job in scheduled_jobs:
            defaults = {"task": job.task, "kwargs": json.dumps(job.kwargs), "description": job.description}
            if job.every is not None:
                interval, _ = IntervalSchedule.objects.using(using).get_or_create(
                    every=int(job.every.total_seconds()), period=IntervalSchedule.SECONDS
                )
                defaults.update(interval=interval, crontab=None)
            else:
                cron, _ = CrontabSchedule.objects.using(using).get_or_create(
                    minute=job.crontab.get("minute", "0"),
                    hour=job.crontab.get("hour", "*"),
                    day_of_week=job.crontab.get("day_of_week", "*"),
                    day_of_month=job.crontab.get("day_of_month", "*"),
                    month_of_year=job.crontab.get("month_of_year", "*"),
                    timezone="UTC",
                )
                defaults.update(crontab=cron, interval=None)
            if job.run_at_install:
                # A last run long ago makes beat's first tick run it (django-celery-beat reads last_run_at).
                defaults_on_create = {**defaults, "last_run_at": timezone.now() - RUN_AT_INSTALL_BACKDATE}
            else:
                defaults_on_create = defaults
            task, was_created = PeriodicTask.objects.using(using).get_or_create(
                name=job.name, defaults=defaults_on_create
            )
            if was_created:
                created += 1
                continue
            changed = [k for k, v in defaults.items() if getattr(task, k) != v]
            if changed:
                for key in changed:
                    setattr(task, key, defaults[key])
                task.save()  # `enabled` stays as the admin left it
    return created
