"""The console's kernel: "Needs you now" for the person looking, and the header's jump box.

Apps contribute through two registries (governance.registries): `needs_you` sources list what a
person has to do, `jump_targets` resolve a reference or slug to its page. The kernel sorts,
renders and serves them; it knows no app.
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils import timezone

from .registries import NeedsYouItem, jump_targets, needs_you

logger = logging.getLogger(__name__)
JUMP_RESULTS_PER_KIND = 10
# The most urgent lines; a person with more than this to do at once is told how many more wait.
NEEDS_YOU_SHOWN = 20


def span(seconds: float, *, round_up: bool = False) -> str:
    """3 min · 1 h 12 min · 2 d 3 h — the precision a person needs. Time left rounds up.

    static/vigil/live.js writes the same text when it moves the clocks on.
    """
    seconds = int(abs(seconds))
    minutes, rest = divmod(seconds, 60)
    if round_up and rest:
        minutes += 1
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass(frozen=True)
class NeedLine:
    item: NeedsYouItem
    late: bool
    clock: str


def due_clock(label: str, due_at: datetime, now: datetime) -> tuple[str, bool]:
    """("ack due in 3 min", False) or ("ack late by 12 min", True): what a live clock says at `now`.

    static/vigil/live.js writes the same text in the browser from the element's datetime and label.
    """
    left = (due_at - now).total_seconds()
    if left > 0:
        return f"{label} due in {span(left, round_up=True)}", False
    return f"{label} late by {span(left)}", True


def _line(item: NeedsYouItem, now: datetime) -> NeedLine:
    if item.due_at is None:
        return NeedLine(item, False, "")
    clock, late = due_clock(item.due_label, item.due_at, now)
    return NeedLine(item, late, clock)


def needs_you_for(user, now: datetime | None = None) -> tuple[list[NeedLine], list[str]]:
    """Every source's items for `user`, late first, then by deadline; and the sources that failed."""
    now = now or timezone.now()
    lines, failed = [], []
    for name, source in sorted(needs_you.items()):
        try:
            lines.extend(_line(item, now) for item in source.collect(user, now))
        except Exception:  # one broken app must not hide what the others say
            logger.exception("needs-you source %s failed", name)
            failed.append(name)
    lines.sort(key=lambda line: (not line.late, line.item.due_at is None, line.item.due_at or now, line.item.label))
    return lines, failed


def render_needs_you(request) -> str:
    lines, failed = needs_you_for(request.user)
    context = {"lines": lines[:NEEDS_YOU_SHOWN], "more": len(lines) - NEEDS_YOU_SHOWN, "failed": failed}
    return render_to_string("governance/needs_you.html", context, request=request)


def needs_you_view(request, admin_site):
    """The list alone, for the dashboard's 30-second refresh (static/vigil/live.js)."""
    response = HttpResponse(render_needs_you(request))
    response["Cache-Control"] = "no-store"
    return response


def _targets_for(user):
    return [target for _name, target in sorted(jump_targets.items()) if user.has_perm(target.permission)]


def jump_view(request, admin_site):
    """INC-123, CHG-45 or a runbook slug opens that page; anything else lists matches by title."""
    query = re.sub(r"\s+", " ", request.GET.get("q", "")).strip()[:200]
    targets = _targets_for(request.user)
    if query:
        for target in targets:
            url = target.exact(query)
            if url:
                return HttpResponseRedirect(url)
    results = (
        [{"title": target.title, "matches": target.search(query, JUMP_RESULTS_PER_KIND)} for target in targets]
        if query
        else []
    )
    context = {
        **admin_site.each_context(request),
        "title": f"Jump to “{query}”" if query else "Jump to",
        "query": query,
        "results": [group for group in results if group["matches"]],
    }
    return TemplateResponse(request, "governance/jump.html", context)
