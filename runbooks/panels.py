"""What runbooks contribute to other pages: the incident page's suggestions, the dashboard
panel, gauges, ops_status lines and the scorecard's "runbook completeness"."""

from django.template.loader import render_to_string
from django.urls import reverse

from governance.choices import CheckStatus

from .models import RunbookExecution
from .selectors import completeness_score, coverage, open_procedures, runbooks_for_incident, runbooks_review_due


def render_incident_runbooks(request, incident) -> str:
    """The incident page's "Runbooks" panel: what applies, with a Start button, and its runs."""
    user = request.user
    if not (user.has_perm("runbooks.view_runbook") or user.has_perm("runbooks.run_runbook")):
        return ""
    executions = list(
        RunbookExecution.objects.filter(incident=incident)
        .select_related("runbook", "version")
        .order_by("-created_at", "-id")[:20]
    )
    return render_to_string(
        "runbooks/panels/incident.html",
        {
            "incident": incident,
            "runbooks": runbooks_for_incident(incident),
            "executions": executions,
            "can_view": user.has_perm("runbooks.view_runbook"),
            "can_start": user.has_perm("runbooks.run_runbook") and incident.status != "closed",
            "start_url": reverse("admin:runbooks_runbookexecution_start"),
        },
        request=request,
    )


def render_dashboard_panel(request) -> str:
    if not request.user.has_perm("runbooks.view_runbook"):
        return ""
    procedures = list(open_procedures().select_related("runbook").order_by("due_at", "pk")[:10])
    return render_to_string(
        "runbooks/panels/dashboard.html",
        {
            "report": coverage(),
            "score": completeness_score(),
            "procedures": procedures,
            "open_procedures": open_procedures().count(),
            "overdue_procedures": open_procedures(overdue=True).count(),
            "coverage_url": reverse("admin:runbooks_runbook_coverage"),
        },
        request=request,
    )


def review_overdue_samples():
    yield {}, len(runbooks_review_due())


def procedure_samples():
    yield {"state": "open"}, open_procedures().count()
    yield {"state": "overdue"}, open_procedures(overdue=True).count()


def status_lines():
    """ops_status: runbooks overdue for review and overdue procedures warn."""
    from governance.health import CheckResult

    overdue = runbooks_review_due()
    if overdue:
        names = ", ".join(runbook.slug for runbook, _ in overdue[:10])
        yield CheckResult(
            "runbooks:reviews", CheckStatus.WARNING, f"{len(overdue)} runbook(s) overdue for review: {names}"
        )
    else:
        yield CheckResult("runbooks:reviews", CheckStatus.OK, "no runbook overdue for review")
    late = list(open_procedures(overdue=True).select_related("runbook").order_by("due_at")[:10])
    if late:
        names = ", ".join(f"{e.runbook.slug} (#{e.pk})" for e in late)
        yield CheckResult("runbooks:procedures", CheckStatus.WARNING, f"{len(late)} overdue procedure(s): {names}")
    else:
        yield CheckResult("runbooks:procedures", CheckStatus.OK, "no overdue scheduled procedure")


def scorecard():
    return completeness_score()
