"""What SLOs add to the kernel's pages: dashboard panel, gauges, ops_status lines, scorecard, evidence, demo."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from governance.choices import CheckStatus

from .choices import BURN_WINDOWS, AlertLevel, BudgetStatus
from .models import SLO, BurnEpisode
from .selectors import attainment, slos_needing_attention

PANEL_ROWS = 10
# Attainment: availability commitments monitored (SOC 2 A1.1); burn episodes: anomalies detected and acted on
# (SOC 2 CC7.2); both are monitoring activities (ISO 27001 A.8.16).
ATTAINMENT_CONTROLS = ("SOC 2 A1.1", "ISO 27001 A.8.16")
BURN_CONTROLS = ("SOC 2 CC7.2", "ISO 27001 A.8.16")


# --- dashboard --------------------------------------------------------------------------------


def render_panel(request) -> str:
    if not request.user.has_perm("slos.view_slo"):
        return ""
    from .admin import budget_bar

    burning = list(slos_needing_attention()[:PANEL_ROWS])
    unknown = SLO.objects.filter(enabled=True, budget_status=BudgetStatus.UNKNOWN).count()
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                reverse("admin:slos_slo_change", args=[slo.pk]),
                slo.slug,
                slo.service.slug,
                budget_bar(slo.error_budget_remaining),
                slo.get_alert_display() if slo.alert else "—",
                f"{(slo.burn_rates or {}).get('1h') or 0:.1f}×",
            )
            for slo in burning
        ),
    )
    if not burning:
        rows = format_html('<tr><td colspan="5">{}</td></tr>', "No SLO is burning or exhausted.")
    return format_html(
        '<div class="vigil-slos-panel"><p><a href="{}">All SLOs</a> · <a href="{}">weekly SLO review</a> · '
        '<span class="{}">{} SLO(s) unknown</span></p><table class="vigil-table"><thead><tr><th>SLO</th>'
        "<th>Service</th><th>Budget remaining</th><th>Alert</th><th>1 h burn</th></tr></thead>"
        "<tbody>{}</tbody></table></div>",
        reverse("admin:slos_slo_changelist"),
        reverse("admin:slos_review"),
        "vigil-bad" if unknown else "",
        unknown,
        rows,
    )


# --- Prometheus -------------------------------------------------------------------------------


def _budgets():
    for slug, service, remaining in SLO.objects.filter(enabled=True, error_budget_remaining__isnull=False).values_list(
        "slug", "service__slug", "error_budget_remaining"
    ):
        yield {"slo": slug, "service": service}, remaining


def _burn_rates():
    for slug, service, rates in SLO.objects.filter(enabled=True).values_list("slug", "service__slug", "burn_rates"):
        for window in BURN_WINDOWS:
            value = (rates or {}).get(window)
            if value is not None:
                yield {"slo": slug, "service": service, "window": window}, value


# --- ops_status -------------------------------------------------------------------------------


def status_lines():
    from governance.health import CheckResult

    slos = list(SLO.objects.filter(enabled=True).select_related("service").order_by("slug"))
    if not slos:
        yield CheckResult("slos:budgets", CheckStatus.OK, "no SLO defined")
        return
    exhausted = [s.slug for s in slos if s.budget_status == BudgetStatus.EXHAUSTED]
    warning = [s.slug for s in slos if s.budget_status == BudgetStatus.WARNING]
    unknown = [s.slug for s in slos if s.budget_status == BudgetStatus.UNKNOWN]
    paging = [s.slug for s in slos if s.alert == AlertLevel.PAGE]
    if exhausted:
        yield CheckResult("slos:budgets", CheckStatus.CRITICAL, f"error budget exhausted: {', '.join(exhausted)}")
    elif warning:
        yield CheckResult("slos:budgets", CheckStatus.WARNING, f"error budget low: {', '.join(warning)}")
    else:
        yield CheckResult("slos:budgets", CheckStatus.OK, f"{len(slos)} SLO(s) within budget or unknown")
    yield CheckResult(
        "slos:burn_rate",
        CheckStatus.CRITICAL if paging else CheckStatus.OK,
        f"fast burn: {', '.join(paging)}" if paging else "no SLO burning at page level",
    )
    stale = [s.slug for s in slos if s.evaluated_at is None or s.evaluated_at < timezone.now() - timedelta(minutes=5)]
    yield CheckResult(
        "slos:evaluation",
        CheckStatus.WARNING if unknown or stale else CheckStatus.OK,
        f"unknown: {', '.join(unknown) or 'none'}; not evaluated for 5 min: {', '.join(stale) or 'none'}",
    )


# --- scorecard --------------------------------------------------------------------------------


def scorecard() -> dict:
    """Service levels: services with SLOs, SLOs known, within budget, burn episodes followed up."""
    from governance.models import Service

    slos = list(SLO.objects.filter(enabled=True))
    services = Service.objects.filter(tier=1).count()
    covered = Service.objects.filter(tier=1, slos__enabled=True).distinct().count()
    known = sum(1 for s in slos if s.budget_status != BudgetStatus.UNKNOWN)
    within = sum(1 for s in slos if s.budget_status in (BudgetStatus.OK, BudgetStatus.WARNING))
    since = timezone.now() - timedelta(days=90)
    pages = BurnEpisode.objects.filter(level=AlertLevel.PAGE, started_at__gte=since)
    page_count = pages.count()
    followed = pages.filter(incident__isnull=False).count()
    parts = [
        100 if not services else round(100 * covered / services),
        0 if not slos else round(100 * known / len(slos)),
        0 if not slos else round(100 * within / len(slos)),
        100 if not page_count else round(100 * followed / page_count),
    ]
    facts = [
        f"{covered} of {services} tier-1 service(s) have an SLO",
        f"{known} of {len(slos)} SLO(s) evaluated with data",
        f"{within} of {len(slos)} SLO(s) within their error budget",
        f"{followed} of {page_count} page-level burn(s) in 90 days followed by an incident",
    ]
    steps = []
    if covered < services:
        steps.append("Define an SLO for every tier-1 service (slos_import an OpenSLO file)")
    if known < len(slos):
        steps.append("Fix the sources of the SLOs shown unknown")
    if within < len(slos):
        steps.append("Spend engineering time on reliability where budgets are exhausted (the gate refuses releases)")
    if followed < page_count:
        steps.append("Set an incident severity on SLOs that page, so fast burns open incidents")
    return {"score": round(sum(parts) / len(parts)), "facts": facts, "next_steps": steps}


# --- evidence ---------------------------------------------------------------------------------

EVIDENCE_COLUMNS = [
    "slo",
    "service",
    "objective",
    "window",
    "period_start",
    "period_end",
    "achieved_sli",
    "met",
    "budget_consumed",
    "page_episodes",
    "ticket_episodes",
    "basis",
]


def export_attainment(start, end):
    rows = [
        [
            r["slo"],
            r["service"],
            r["objective"],
            r["window"],
            start.isoformat(),
            end.isoformat(),
            "" if r["achieved_sli"] is None else f"{r['achieved_sli']:.9f}",
            "" if r["met"] is None else r["met"],
            "" if r["budget_consumed"] is None else f"{r['budget_consumed']:.6f}",
            r["page_episodes"],
            r["ticket_episodes"],
            r["basis"],
        ]
        for r in attainment(start=start, end=end)
    ]
    return EVIDENCE_COLUMNS, rows


def export_episodes(start, end):
    columns = ["id", "slo", "level", "started_at", "ended_at", "incident", "suspect_deployment", "peak_burn_rates"]
    import json

    qs = (
        BurnEpisode.objects.filter(started_at__gte=start, started_at__lt=end)
        .select_related("slo", "incident")
        .order_by("pk")
    )
    rows = [
        [
            e.pk,
            e.slo.slug,
            e.level,
            e.started_at.isoformat(),
            e.ended_at.isoformat() if e.ended_at else "",
            e.incident.reference if e.incident else "",
            e.suspect_deployment_id or "",
            json.dumps(e.peak_burn_rates, sort_keys=True),
        ]
        for e in qs
    ]
    return columns, rows


def register() -> None:
    from governance.registries import (
        DashboardPanel,
        EvidenceExporter,
        MetricFamily,
        ObjectPanel,
        ScorecardDimension,
        StatusSource,
        dashboard_panels,
        demo_seeders,
        evidence_exporters,
        metrics,
        object_panels,
        scorecard_dimensions,
        status_sources,
    )

    from . import demo

    dashboard_panels.register(
        "slos",
        DashboardPanel(
            "slos", "SLOs burning or exhausted", render_panel, order=15, permission="slos.view_slo", shared=True
        ),
    )
    metrics.register(
        "vigil_slo_error_budget_remaining",
        MetricFamily(
            "vigil_slo_error_budget_remaining",
            "Fraction of the SLO's error budget remaining over its window (negative when overspent).",
            _budgets,
            labels=("slo", "service"),
        ),
    )
    metrics.register(
        "vigil_slo_burn_rate",
        MetricFamily(
            "vigil_slo_burn_rate",
            "Error-budget burn rate of the SLO over the window (1 = spending exactly the budget).",
            _burn_rates,
            labels=("slo", "service", "window"),
        ),
    )
    status_sources.register("slos", StatusSource("slos", status_lines))
    scorecard_dimensions.register("service_levels", ScorecardDimension("service_levels", "Service levels", scorecard))
    evidence_exporters.register(
        "slo_attainment", EvidenceExporter("slo_attainment", export_attainment, controls=ATTAINMENT_CONTROLS)
    )
    evidence_exporters.register(
        "slo_burn_episodes", EvidenceExporter("slo_burn_episodes", export_episodes, controls=BURN_CONTROLS)
    )
    demo_seeders.register("slos", demo.seed_slos)
    object_panels.register(
        "slos.burn_episodes",
        ObjectPanel("slos.burn_episodes", "incidents.incident", "SLO burns", render_incident_burns, order=30),
    )


# --- the incident page ------------------------------------------------------------------------


def render_incident_burns(request, incident) -> str:
    """SLO burn episodes that opened or joined this incident."""
    if not request.user.has_perm("slos.view_burnepisode"):
        return ""
    episodes = list(
        BurnEpisode.objects.filter(incident=incident).select_related("slo", "suspect_deployment").order_by("started_at")
    )
    if not episodes:
        return ""
    return format_html(
        '<table class="vigil-table"><thead><tr><th>SLO</th><th>Burn</th><th>Started</th><th>Ended</th>'
        "<th>Suspect deployment</th></tr></thead><tbody>{}</tbody></table>",
        format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:slos_slo_change", args=[e.slo_id]),
                    e.slo.slug,
                    e.get_level_display(),
                    f"{e.started_at:%Y-%m-%d %H:%M}",
                    f"{e.ended_at:%Y-%m-%d %H:%M}" if e.ended_at else "burning",
                    str(e.suspect_deployment) if e.suspect_deployment else "—",
                )
                for e in episodes
            ),
        ),
    )
