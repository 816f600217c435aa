"""Thin Celery tasks: scheduled jobs through the kernel's ledger."""

from datetime import timedelta

from django.utils import timezone

from governance.audit import audit_context
from governance.jobs import scheduled_job

from .models import SLO
from .services import slos_evaluate


def evaluate_all(*, now=None, slug: str | None = None) -> list:
    now = now or timezone.now()
    qs = SLO.objects.filter(enabled=True)
    if slug:
        qs = SLO.objects.filter(slug=slug)
    return slos_evaluate(slos=list(qs.select_related("service", "prometheus_source").order_by("slug")), now=now)


@scheduled_job("slos.evaluate", every=timedelta(minutes=1), expected_every=timedelta(minutes=5))
def evaluate() -> str:
    """Evaluate every enabled SLO: SLI, error budget, burn rates, episodes and budget policy."""
    results = evaluate_all()
    unknown = sum(1 for r in results if r.budget_status == "unknown")
    alerts = sum(1 for r in results if r.alert)
    return f"{len(results)} SLO(s) evaluated, {alerts} burning, {unknown} unknown"


@scheduled_job("slos.self_feed", every=timedelta(minutes=1), expected_every=timedelta(minutes=5))
def self_feed() -> str:
    """Push Vigil's own request and notification counts into its demo SLOs (when they exist)."""
    from . import demo

    now = timezone.now()
    with audit_context(label="slos.self_feed"):
        return f"API: {demo.feed_api(now)}; alerts: {demo.feed_alert_receipt(now)}"


@scheduled_job("slos.purge_raw_intervals", every=timedelta(hours=6), expected_every=timedelta(days=1))
def purge_raw_intervals() -> str:
    """Delete pushed minute intervals older than 40 days; their hourly roll-ups stay."""
    from .services.pushed import slos_purge_raw_intervals

    with audit_context(label="slos.purge_raw_intervals"):
        return f"{slos_purge_raw_intervals(now=timezone.now())} raw interval(s) purged"
