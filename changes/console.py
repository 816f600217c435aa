"""What changes ask of the person looking ("Needs you now") and the jump box's CHG-<n>."""

import datetime as dt
import re

from django.db.models import Q
from django.urls import reverse

from governance.registries import JumpTarget, NeedsYouItem, NeedsYouSource, jump_targets, needs_you

from .choices import ChangeStatus, ExceptionStatus
from .models import Change, FreezeException

SHOWN = 20
REFERENCE = re.compile(r"^\s*CHG-?(\d{1,18})\s*$", re.IGNORECASE)


def changes_needing(user, now: dt.datetime) -> list[NeedsYouItem]:
    """Submitted changes awaiting their approval (never their own), approved changes they implement,
    and freeze exceptions awaiting a Change Manager."""
    items = []
    if user.has_perm("changes.approve_change"):
        awaiting = (
            Change.objects.filter(status=ChangeStatus.SUBMITTED)
            .filter(Q(approvers=user) | Q(approvers__isnull=True))
            .exclude(implementer=user)
            .distinct()
            .only("title", "approval_due_at", "planned_start")
            .order_by("planned_start", "pk")[:SHOWN]
        )
        for change in awaiting:
            items.append(
                NeedsYouItem(
                    "change",
                    f"{change.reference} {change.title}: approve or reject",
                    reverse("admin:changes_change_change", args=[change.pk]),
                    change.approval_due_at or change.planned_start,
                    "approval",
                )
            )
    for change in (
        Change.objects.filter(status=ChangeStatus.APPROVED, implementer=user)
        .only("title", "planned_start")
        .order_by("planned_start", "pk")[:SHOWN]
    ):
        items.append(
            NeedsYouItem(
                "change",
                f"{change.reference} {change.title}: start when ready",
                reverse("admin:changes_change_change", args=[change.pk]),
                change.planned_start,
                "start",
            )
        )
    if user.has_perm("changes.approve_freezeexception"):
        for exception in (
            FreezeException.objects.filter(status=ExceptionStatus.REQUESTED, valid_until__gt=now)
            .exclude(requested_by=user)
            .select_related("window")
            .only("valid_from", "window__name")
            .order_by("valid_from", "pk")[:SHOWN]
        ):
            items.append(
                NeedsYouItem(
                    "exception",
                    f"Freeze exception for {exception.window.name}: approve or reject",
                    reverse("admin:changes_freezeexception_change", args=[exception.pk]),
                    exception.valid_from,
                    "decision",
                )
            )
    return items


def change_by_reference(query: str) -> str | None:
    match = REFERENCE.match(query)
    if not match:
        return None
    pk = Change.objects.filter(pk=int(match.group(1))).values_list("pk", flat=True).first()
    return reverse("admin:changes_change_change", args=[pk]) if pk else None


def changes_titled(query: str, limit: int) -> list[tuple[str, str]]:
    found = Change.objects.filter(title__icontains=query).only("title").order_by("-pk")[:limit]
    return [(f"{c.reference} {c.title}", reverse("admin:changes_change_change", args=[c.pk])) for c in found]


needs_you.register(
    "changes",
    NeedsYouSource(
        "changes",
        changes_needing,
        watches=("changes.Change", "changes.Change_approvers", "changes.FreezeException", "changes.FreezeWindow"),
    ),
)
jump_targets.register(
    "changes", JumpTarget("changes", "Changes", "changes.view_change", change_by_reference, changes_titled)
)
