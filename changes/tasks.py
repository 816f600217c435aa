"""Thin Celery tasks: scheduled jobs through the kernel's ledger."""

from datetime import timedelta

from django.utils import timezone

from governance.jobs import scheduled_job

from . import services
from .choices import ChangeKind
from .models import Change

SWEEP_BATCH = 500


@scheduled_job("changes.flag_suspects", every=timedelta(minutes=1))
def flag_suspects() -> str:
    """Flag deployments followed by a SEV1/SEV2 on their service within their watch window."""
    flagged = services.deployments_flag_suspects(now=timezone.now())
    return f"{flagged} deployment(s) flagged suspect"


@scheduled_job("changes.emergency_approval_due", every=timedelta(minutes=5))
def emergency_approval_due() -> str:
    """Notify the approvers of emergency changes not approved by their deadline."""
    now = timezone.now()
    ids = list(
        Change.objects.filter(
            kind=ChangeKind.EMERGENCY,
            approved_at__isnull=True,
            approval_reminded_at__isnull=True,
            approval_due_at__lte=now,
        )
        .order_by("approval_due_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    sent = sum(services.change_remind_approval_due(change=pk, now=now) for pk in ids)
    return f"{sent} approval reminder(s)"
