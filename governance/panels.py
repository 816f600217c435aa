"""The kernel's dashboard panel: platform health and stale jobs."""

from django.template.loader import render_to_string

from .choices import CheckStatus
from .health import check_audit_chain, check_broker, check_database, check_jobs, run_status_sources
from .registries import DashboardPanel, dashboard_panels


def render_platform_panel(request) -> str:
    if not request.user.is_staff:
        return ""
    platform = [check_database(), check_broker(), check_audit_chain()]
    jobs = check_jobs()
    return render_to_string(
        "governance/panels/platform.html",
        {
            "platform": platform,
            "jobs": jobs,
            "stale": [job for job in jobs if job.status != CheckStatus.OK],
        },
        request=request,
    )


dashboard_panels.register(
    "platform", DashboardPanel("platform", "Platform health", render_platform_panel, order=900, shared=True)
)


def render_breaches_panel(request) -> str:
    """Every line of ops_status that is not ok — ack and update breaches, RPO, overdue drills, reviews,
    procedures and remediations, dead letters, coverage gaps — with the stale jobs, in one list."""
    if not request.user.is_staff:
        return ""
    lines = [line for line in run_status_sources(breaches_only=True) if line.status != CheckStatus.OK]
    stale = [job for job in check_jobs() if job.status != CheckStatus.OK]
    lines.sort(key=lambda line: (line.status != CheckStatus.CRITICAL, line.name))
    return render_to_string("governance/panels/breaches.html", {"lines": lines, "stale": stale}, request=request)


dashboard_panels.register(
    "breaches", DashboardPanel("breaches", "Breaches and overdue work", render_breaches_panel, order=5, shared=True)
)
