"""The live clocks people read at 3 a.m.: "ack due in 3 min", "late by 12 min"."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from governance.console import span

from .choices import IncidentStatus

OK, WARNING, BAD, NONE = "ok", "warning", "bad", "none"


@dataclass(frozen=True)
class Clock:
    text: str
    state: str  # ok | warning | bad | none


def ack_clock(incident, now: datetime | None = None) -> Clock:
    now = now or timezone.now()
    if incident.acknowledged_at is not None:
        taken = span((incident.acknowledged_at - incident.declared_at).total_seconds())
        if incident.ack_breached or incident.acknowledged_at > incident.ack_due_at:
            late = span((incident.acknowledged_at - incident.ack_due_at).total_seconds())
            return Clock(f"acknowledged late by {late} (took {taken})", BAD)
        return Clock(f"acknowledged in {taken}", OK)
    if incident.status != IncidentStatus.DECLARED:
        return Clock("—", NONE)
    remaining = (incident.ack_due_at - now).total_seconds()
    if remaining > 0 and not incident.ack_breached:
        return Clock(f"ack due in {span(remaining, round_up=True)}", WARNING)
    return Clock(f"ack late by {span(remaining)}", BAD)


def update_clock(incident, now: datetime | None = None) -> Clock:
    now = now or timezone.now()
    if not incident.is_open or incident.next_update_due_at is None:
        return Clock("no update cadence" if incident.is_open else "—", NONE)
    remaining = (incident.next_update_due_at - now).total_seconds()
    if remaining > 0:
        return Clock(f"next update due in {span(remaining, round_up=True)}", OK if remaining > 300 else WARNING)
    return Clock(f"update late by {span(remaining)}", BAD)


def postmortem_clock(incident, postmortem=None, now: datetime | None = None) -> Clock:
    now = now or timezone.now()
    due = postmortem.due_at if postmortem is not None and postmortem.due_at else incident.postmortem_due_at
    if postmortem is not None and postmortem.status == "published":
        on_time = due is None or postmortem.published_at <= due
        return Clock("postmortem published" + ("" if on_time else " late"), OK if on_time else BAD)
    if due is None:
        return Clock(
            "postmortem optional" if not incident.postmortem_required else "postmortem due after resolution", NONE
        )
    remaining = (due - now).total_seconds()
    if remaining > 0:
        return Clock(f"postmortem due in {span(remaining, round_up=True)}", WARNING)
    return Clock(f"postmortem late by {span(remaining)}", BAD)
