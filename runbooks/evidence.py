"""Evidence bundle record types: approved versions, reviews, and executions with their steps.

Auditors see that runbooks are approved by a second person, reviewed on cadence, and that the
scheduled procedures (daily checks, restore drills, DR reviews) were really done.
"""

from .models import RunbookExecution, RunbookReview, RunbookVersion

CONTROLS = ("SOC 2 CC7.4", "SOC 2 CC7.5", "ISO 27001 A.5.26", "ISO 27001 A.5.37")


def _iso(value) -> str:
    return value.isoformat() if value else ""


def export_versions(start, end):
    columns = ["runbook", "version", "content_sha256", "author", "approved_by", "published_at", "change_summary"]
    rows = (
        [v.runbook.slug, v.number, v.content_sha256, v.author_label, v.approved_by_label, _iso(v.published_at),
         v.change_summary]
        for v in RunbookVersion.objects.filter(published_at__gte=start, published_at__lt=end)
        .select_related("runbook")
        .order_by("published_at", "pk")
    )  # fmt: skip
    return columns, list(rows)


def export_reviews(start, end):
    columns = ["runbook", "version", "reviewer", "reviewed_at", "outcome", "notes"]
    rows = (
        [r.runbook.slug, r.version.number if r.version_id else "", r.reviewer_label, _iso(r.reviewed_at), r.outcome,
         r.notes]
        for r in RunbookReview.objects.filter(reviewed_at__gte=start, reviewed_at__lt=end)
        .select_related("runbook", "version")
        .order_by("reviewed_at", "pk")
    )  # fmt: skip
    return columns, list(rows)


def export_executions(start, end):
    columns = [
        "id", "runbook", "version", "purpose", "incident", "status", "result", "assignee", "scheduled_for", "due_at",
        "overdue_at", "started_at", "completed_at", "steps",
    ]  # fmt: skip
    executions = (
        RunbookExecution.objects.filter(created_at__gte=start, created_at__lt=end)
        .select_related("runbook", "version", "incident", "assignee")
        .prefetch_related("step_results")
        .order_by("created_at", "pk")
    )
    rows = [
        [
            e.pk, e.runbook.slug, e.version.number, e.purpose, e.incident.reference if e.incident_id else "", e.status,
            e.result, e.assignee.get_username() if e.assignee_id else "", _iso(e.scheduled_for), _iso(e.due_at),
            _iso(e.overdue_at), _iso(e.started_at), _iso(e.completed_at),
            "; ".join(f"{r.position}:{r.outcome}:{r.operator_label}" for r in e.step_results.all()),
        ]
        for e in executions
    ]  # fmt: skip
    return columns, rows


EXPORTERS = {
    "runbook_versions": export_versions,
    "runbook_reviews": export_reviews,
    "runbook_executions": export_executions,
}
