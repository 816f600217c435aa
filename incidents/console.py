"""What incidents ask of the person looking ("Needs you now") and the jump box's INC-<n>."""

import datetime as dt
import re

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from alerting.selectors import teams_where_on_call
from governance.registries import JumpTarget, NeedsYouItem, NeedsYouSource, jump_targets, needs_you

from .choices import ACTION_ITEM_OPEN_STATUSES, OPEN_STATUSES, IncidentStatus
from .models import ActionItem, Incident

SHOWN = 20
REFERENCE = re.compile(r"^\s*INC-?(\d{1,18})\s*$", re.IGNORECASE)


def _incident_item(incident: Incident) -> NeedsYouItem:
    url = reverse("admin:incidents_incident_change", args=[incident.pk])
    title = f"{incident.reference} {incident.title}"
    if incident.status == IncidentStatus.DECLARED:
        return NeedsYouItem("incident", f"{title}: acknowledge", url, incident.ack_due_at, "ack", incident.severity)
    if incident.next_update_due_at is not None:
        return NeedsYouItem(
            "incident", f"{title}: post an update", url, incident.next_update_due_at, "update", incident.severity
        )
    return NeedsYouItem(
        "incident", f"{title}: {incident.get_status_display().lower()}", url, severity=incident.severity
    )


def incidents_needing(user, now: dt.datetime) -> list[NeedsYouItem]:
    """Open incidents they command, communicate or scribe for, or whose service's team has them on call now;
    and their open postmortem action items. At most 6 queries, whatever the history."""
    if not user.has_perm("incidents.view_incident"):
        return []
    mine = Q(commander=user) | Q(communications_lead=user) | Q(scribe=user)
    on_call_teams = teams_where_on_call(user, now)
    if on_call_teams:
        mine |= Q(service__owner_team_id__in=on_call_teams)
    incidents = (
        Incident.objects.filter(mine, status__in=OPEN_STATUSES)
        .only("title", "severity", "status", "ack_due_at", "next_update_due_at")
        .order_by("ack_due_at")[:SHOWN]
    )
    items = [_incident_item(incident) for incident in incidents]
    actions = (
        ActionItem.objects.filter(owner=user, status__in=ACTION_ITEM_OPEN_STATUSES)
        .only("title", "due_date", "incident_id")
        .order_by("due_date")[:SHOWN]
    )
    tz = timezone.get_current_timezone()
    for action in actions:
        due = dt.datetime.combine(action.due_date + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        items.append(
            NeedsYouItem(
                "action_item",
                f"{Incident(pk=action.incident_id).reference} action item: {action.title}",
                reverse("admin:incidents_actionitem_change", args=[action.pk]),
                due,
                "action item",
            )
        )
    return items


def incident_by_reference(query: str) -> str | None:
    match = REFERENCE.match(query)
    if not match:
        return None
    pk = Incident.objects.filter(pk=int(match.group(1))).values_list("pk", flat=True).first()
    return reverse("admin:incidents_incident_change", args=[pk]) if pk else None


def incidents_titled(query: str, limit: int) -> list[tuple[str, str]]:
    found = Incident.objects.filter(title__icontains=query).only("title").order_by("-declared_at")[:limit]
    return [(f"{i.reference} {i.title}", reverse("admin:incidents_incident_change", args=[i.pk])) for i in found]


needs_you.register(
    "incidents",
    NeedsYouSource(
        "incidents",
        incidents_needing,
        watches=(
            "incidents.Incident",
            "incidents.ActionItem",
            "governance.Service",  # its owning team decides whose on-call shift covers it
            "alerting.OnCallRotation",
            "alerting.RotationMember",
            "alerting.OnCallOverride",
        ),
    ),
)
jump_targets.register(
    "incidents",
    JumpTarget("incidents", "Incidents", "incidents.view_incident", incident_by_reference, incidents_titled),
)
