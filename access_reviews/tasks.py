"""Thin scheduled jobs: each calls one service and reports a one-line summary to the job ledger."""

from datetime import timedelta

from django.utils import timezone

from governance.jobs import scheduled_job

from . import services
from .choices import ImportStatus
from .models import System


@scheduled_job("access_reviews.campaign_sweep", every=timedelta(hours=1))
def campaign_sweep() -> str:
    """Launch each active template's quarterly campaign (idempotent), remind, escalate, close."""
    now = timezone.now()
    result = services.campaigns_sweep(now=now)
    result["stale uploads purged"] = services.pending_uploads_purge(now=now)
    return ", ".join(f"{n} {what}" for what, n in result.items())


@scheduled_job("access_reviews.pull_snapshots", every=timedelta(hours=24), expected_every=timedelta(hours=26))
def pull_snapshots() -> str:
    """Pull a snapshot from every system whose connector is enabled; a failure is recorded, the rest go on."""
    ok = failed = 0
    for system in System.objects.filter(pull_enabled=True).exclude(connector="").order_by("slug"):
        record = services.system_pull(system=system)
        if record.status == ImportStatus.FAILED:
            failed += 1
        else:
            ok += 1
    return f"{ok} system(s) pulled, {failed} failed"


@scheduled_job("access_reviews.remediation_sweep", every=timedelta(hours=1))
def remediation_sweep() -> str:
    """Flag and notify remediations still unverified after their deadline."""
    return f"{services.remediations_flag_overdue(now=timezone.now())} remediation(s) flagged"
