"""The console's kernel: "Needs you now" for the person looking, and the header's jump box.

Apps contribute through two registries (governance.registries): `needs_you` sources list what a
person has to do, `jump_targets` resolve a reference or slug to its page. The kernel sorts,
renders and serves them; it knows no app.

A person's items are kept in the cache for NEEDS_YOU_CACHE_SECONDS, tagged with a generation that
every committed write to a model some source `watches` replaces (one cache write per transaction):
a list read before that commit is never served after it. The clocks are computed on every view.
Bulk writes send no model signals; the services that make them call `needs_you_changed()`.
"""

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
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


GENERATION_KEY = "vigil:needs-you:generation"
# Who may do what decides what a source shows: role changes are watched like the sources' own models.
KERNEL_WATCHES = ("auth.User_groups", "auth.User_user_permissions", "auth.Group_permissions")


def _items_key(user) -> str:
    return f"vigil:needs-you:user:{user.pk}"


def _collect(user, now: datetime) -> tuple[list[NeedsYouItem], list[str]]:
    items, failed = [], []
    for name, source in sorted(needs_you.items()):
        try:
            items.extend(source.collect(user, now))
        except Exception:  # one broken app must not hide what the others say
            logger.exception("needs-you source %s failed", name)
            failed.append(name)
    return items, failed


def _cached_collect(user, now: datetime) -> tuple[list[NeedsYouItem], list[str]]:
    """The person's items from the cache when no watched write committed since they were collected;
    else collected now and kept (not when a source failed: the next view tries it again)."""
    seconds = settings.NEEDS_YOU_CACHE_SECONDS
    if seconds <= 0 or not getattr(user, "pk", None):
        return _collect(user, now)
    key = _items_key(user)
    try:
        found = cache.get_many([GENERATION_KEY, key])
        generation = found.get(GENERATION_KEY)
        if generation is None:  # first use, or evicted: start one (a concurrent start wins, we reread it)
            cache.add(GENERATION_KEY, secrets.token_hex(8), None)
            generation = cache.get(GENERATION_KEY)
    except Exception:  # the cache (Redis) is down: collect every time until it is back
        logger.warning("needs-you cache unavailable; collecting afresh", exc_info=True)
        return _collect(user, now)
    entry = found.get(key)
    if entry is not None and generation is not None and entry[0] == generation:
        return entry[1], []
    items, failed = _collect(user, now)
    if not failed and generation is not None:
        try:
            # Tagged with the generation read *before* collecting: a write committed meanwhile retires it.
            cache.set(key, (generation, items), seconds)
        except Exception:
            logger.warning("could not cache the needs-you list", exc_info=True)
    return items, failed


def needs_you_for(user, now: datetime | None = None) -> tuple[list[NeedLine], list[str]]:
    """Every source's items for `user`, late first, then by deadline; and the sources that failed."""
    now = now or timezone.now()
    items, failed = _cached_collect(user, now)
    lines = [_line(item, now) for item in items]
    lines.sort(key=lambda line: (not line.late, line.item.due_at is None, line.item.due_at or now, line.item.label))
    return lines, failed


def _new_generation() -> None:
    try:
        cache.set(GENERATION_KEY, secrets.token_hex(8), None)
    except Exception:  # the cache is down: lists expire within NEEDS_YOU_CACHE_SECONDS
        logger.warning("could not retire the cached needs-you lists", exc_info=True)


class _RetireLists:
    """The on-commit callback of one transaction's writes (it remembers having run: a test that runs
    captured callbacks keeps them listed)."""

    done = False

    def __call__(self) -> None:
        self.done = True
        _new_generation()


def needs_you_changed() -> None:
    """Something a needs-you source reads was written: every cached list is stale once this transaction
    commits (at once outside a transaction). Once per transaction, however many rows it writes."""
    if any(isinstance(callback, _RetireLists) and not callback.done for _s, callback, _r in connection.run_on_commit):
        return
    transaction.on_commit(_RetireLists(), robust=True)


_watched: frozenset | None = None


def watched_models() -> frozenset:
    """The model classes whose writes retire the cached lists: every source's `watches` and the kernel's."""
    global _watched
    if _watched is not None:
        return _watched
    labels = {*KERNEL_WATCHES, *(label for _name, source in needs_you.items() for label in source.watches)}
    models = frozenset(apps.get_model(label) for label in labels)
    if apps.ready:
        _watched = models
    return models


def on_model_write(sender, **kwargs) -> None:
    """post_save, post_delete and m2m_changed for every model; acts on the watched ones."""
    if settings.NEEDS_YOU_CACHE_SECONDS > 0 and sender in watched_models():
        needs_you_changed()


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
