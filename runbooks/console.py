"""What runbooks ask of the person looking ("Needs you now") and the jump box's runbook slugs."""

import datetime as dt

from django.db.models import Q
from django.urls import reverse

from governance.registries import JumpTarget, NeedsYouItem, NeedsYouSource, jump_targets, needs_you

from .choices import OPEN_EXECUTION_STATUSES, ExecutionPurpose
from .models import Runbook, RunbookExecution

SHOWN = 20


def executions_needing(user, now: dt.datetime) -> list[NeedsYouItem]:
    """Procedures and runbook executions assigned to them (or started by them and unassigned), still open."""
    executions = (
        RunbookExecution.objects.filter(status__in=OPEN_EXECUTION_STATUSES)
        .filter(Q(assignee=user) | Q(assignee__isnull=True, started_by=user))
        .select_related("runbook")
        .only("purpose", "due_at", "incident_id", "runbook__title")
        .order_by("due_at", "pk")[:SHOWN]
    )
    items = []
    for execution in executions:
        what = "procedure" if execution.purpose == ExecutionPurpose.PROCEDURE else "runbook"
        label = f"Run the {what} “{execution.runbook.title}”"
        if execution.incident_id:
            label += f" for INC-{execution.incident_id}"
        items.append(
            NeedsYouItem(
                "procedure" if what == "procedure" else "runbook",
                label,
                reverse("admin:runbooks_runbookexecution_change", args=[execution.pk]),
                execution.due_at,
                what,
            )
        )
    return items


def runbook_by_slug(query: str) -> str | None:
    pk = Runbook.objects.filter(slug=query.strip().lower()).values_list("pk", flat=True).first()
    return reverse("admin:runbooks_runbook_change", args=[pk]) if pk else None


def runbooks_titled(query: str, limit: int) -> list[tuple[str, str]]:
    found = Runbook.objects.filter(title__icontains=query).only("title", "slug").order_by("title")[:limit]
    return [(f"{r.title} ({r.slug})", reverse("admin:runbooks_runbook_change", args=[r.pk])) for r in found]


needs_you.register(
    "runbooks",
    NeedsYouSource("runbooks", executions_needing, watches=("runbooks.RunbookExecution", "runbooks.Runbook")),
)
jump_targets.register(
    "runbooks", JumpTarget("runbooks", "Runbooks", "runbooks.view_runbook", runbook_by_slug, runbooks_titled)
)
