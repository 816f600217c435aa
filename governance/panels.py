"""The kernel's dashboard panel: platform health and stale jobs."""

from django.template.loader import render_to_string

from .choices import CheckStatus
from .health import check_audit_chain, check_broker, check_database, check_jobs
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


dashboard_panels.register("platform", DashboardPanel("platform", "Platform health", render_platform_panel, order=900))
