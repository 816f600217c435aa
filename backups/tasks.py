"""Thin Celery tasks: an id in, a service call, a short result out."""

from datetime import timedelta

from celery import shared_task
from django.db import transaction

from governance.jobs import scheduled_job

from . import services
from .choices import DrillStatus
from .models import RestoreDrill


@scheduled_job("backups.rpo_monitor", every=timedelta(minutes=5))
def rpo_monitor() -> str:
    """Open (once) and clear RPO breaches from each target's newest good backup."""
    counts = services.rpo_monitor()
    return f"{counts['breached']} breach(es) opened, {counts['cleared']} cleared, {counts['ok']} target(s) fine"


@scheduled_job("backups.drill_scheduler", crontab={"minute": "15", "hour": "3"}, expected_every=timedelta(days=1))
def drill_scheduler() -> str:
    """Schedule each target's next drill when its interval comes due; run automated ones; flag overdue."""
    counts = services.drills_schedule_due()
    return f"{counts['scheduled']} drill(s) scheduled ({counts['automated']} automated), {counts['overdue']} overdue"


@shared_task(name="backups.run_automated_drill", ignore_result=True, acks_late=False)
def run_automated_drill(drill_id: int) -> str:
    """Safe to deliver twice: only a drill still scheduled (or overdue) is started."""
    with transaction.atomic():
        drill = (
            RestoreDrill.objects.select_for_update(of=("self",)).select_related("target").filter(pk=drill_id).first()
        )
        if drill is None or drill.status not in (DrillStatus.SCHEDULED, DrillStatus.OVERDUE):
            return "nothing to do"
        target = drill.target
    drill = services.drill_run_automated(target=target, drill=drill)
    return f"drill {drill.pk} {drill.status}"
