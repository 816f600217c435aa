"""Reads: attainment per period, the review report's rows, what burns."""

from datetime import datetime

from django.db.models import Count, Q, QuerySet, Sum

from .choices import AlertLevel, BudgetStatus, SourceKind
from .models import SLO, BurnEpisode, HourlyCount, SLOStatus


def slos_with_related() -> QuerySet[SLO]:
    return SLO.objects.select_related("service", "owner_team", "prometheus_source")


def slos_needing_attention() -> QuerySet[SLO]:
    """Burning (an alert) or exhausted or unknown, worst first."""
    return (
        slos_with_related()
        .filter(enabled=True)
        .filter(Q(alert__in=[AlertLevel.PAGE, AlertLevel.TICKET]) | Q(budget_status__in=[BudgetStatus.EXHAUSTED]))
        .order_by("error_budget_remaining", "slug")
    )


def attainment(*, start: datetime, end: datetime) -> list[dict]:
    """Per SLO over [start, end): objective, achieved SLI, budget consumed, episodes.

    Pushed SLOs: from the hourly roll-ups of the period (by hour start). Prometheus SLOs: the window
    SLI of the last successful evaluation in the period (Vigil keeps no copy of Prometheus' counts)."""
    slos = list(slos_with_related().order_by("slug"))
    sums = {
        row["slo_id"]: row
        for row in HourlyCount.objects.filter(hour__gte=start, hour__lt=end)
        .values("slo_id")
        .annotate(good=Sum("good"), total=Sum("total"))
    }
    episodes = {
        (row["slo_id"], row["level"]): row["n"]
        for row in BurnEpisode.objects.filter(started_at__gte=start, started_at__lt=end)
        .values("slo_id", "level")
        .annotate(n=Count("id"))
    }
    last_status = {}
    for status in (
        SLOStatus.objects.filter(evaluated_at__gte=start, evaluated_at__lt=end, succeeded=True, sli__isnull=False)
        .order_by("slo_id", "-evaluated_at")
        .distinct("slo_id")
        if _distinct_on()
        else _last_statuses(start, end)
    ):
        last_status[status.slo_id] = status
    rows = []
    for slo in slos:
        budget = slo.error_budget
        good = total = None
        if slo.source_kind == SourceKind.PUSHED and slo.pk in sums and sums[slo.pk]["total"]:
            good, total = float(sums[slo.pk]["good"]), float(sums[slo.pk]["total"])
            sli = good / total
            basis = "pushed counts in the period"
        elif slo.pk in last_status:
            sli = last_status[slo.pk].sli
            basis = f"window SLI at {last_status[slo.pk].evaluated_at:%Y-%m-%d %H:%M} UTC"
        else:
            sli, basis = None, "no data"
        consumed = None if sli is None else (1.0 - sli) / budget
        rows.append(
            {
                "slo": slo.slug,
                "name": slo.name,
                "service": slo.service.slug,
                "objective": float(slo.objective),
                "window": slo.window,
                "achieved_sli": sli,
                "met": None if sli is None else sli >= float(slo.objective),
                "budget_consumed": consumed,
                "good": good,
                "total": total,
                "page_episodes": episodes.get((slo.pk, AlertLevel.PAGE), 0),
                "ticket_episodes": episodes.get((slo.pk, AlertLevel.TICKET), 0),
                "basis": basis,
                "budget_status": slo.budget_status,
            }
        )
    return rows


def _distinct_on() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def _last_statuses(start, end) -> list[SLOStatus]:
    found = {}
    for status in SLOStatus.objects.filter(
        evaluated_at__gte=start, evaluated_at__lt=end, succeeded=True, sli__isnull=False
    ).order_by("slo_id", "evaluated_at"):
        found[status.slo_id] = status
    return list(found.values())
