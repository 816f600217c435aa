"""The change calendar: planned changes, deployments and freeze windows per service and day; its iCalendar feed."""

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from governance.models import Service

from .choices import ChangeStatus
from .freeze import occurrences
from .models import Change, ChangeCalendarFeed, Deployment, FreezeWindow

ALL_SERVICES = "All services"
FEED_PAST = timedelta(days=7)
FEED_FUTURE = timedelta(days=60)


@dataclass
class Entry:
    kind: str  # change, deployment, freeze
    starts_at: datetime
    ends_at: datetime | None
    title: str
    url: str = ""
    css: str = ""


@dataclass
class Row:
    service: str
    days: list[list[Entry]] = field(default_factory=list)


def window_bounds(start_day: date, days: int = 7) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    start = datetime.combine(start_day, time.min, tzinfo=tz)
    return start, start + timedelta(days=days)


def _changes(start, end, services=None):
    qs = Change.objects.filter(
        Q(planned_start__lt=end, planned_end__gt=start)
        | Q(planned_start__gte=start, planned_start__lt=end)
        | Q(actual_start__gte=start, actual_start__lt=end)
    ).exclude(status=ChangeStatus.CANCELLED)
    qs = qs.exclude(kind="standard", deployments__isnull=False)  # shown as their deployments
    if services:
        qs = qs.filter(services__in=services)
    return qs.prefetch_related("services").distinct().order_by("planned_start", "pk")


def _deployments(start, end, services=None):
    qs = Deployment.objects.filter(started_at__gte=start, started_at__lt=end).select_related("service", "change")
    if services:
        qs = qs.filter(service__in=services)
    return qs.order_by("started_at", "pk")


def _freezes(services=None):
    qs = FreezeWindow.objects.filter(active=True).prefetch_related("services")
    if services:
        qs = qs.filter(Q(all_services=True) | Q(services__in=services)).distinct()
    return qs.order_by("name", "pk")


def entries(start: datetime, end: datetime, services=None) -> list[tuple[str, Entry]]:
    """(service label, entry) for everything in [start, end)."""
    from django.urls import reverse

    found = []
    for change in _changes(start, end, services):
        when = change.actual_start or change.planned_start
        entry = Entry(
            "change",
            when,
            change.actual_end or change.planned_end,
            f"{change.reference} {change.title} ({change.get_status_display().lower()})",
            reverse("admin:changes_change_change", args=[change.pk]),
            f"change-{change.status}",
        )
        for service in change.services.all():
            found.append((service.slug, entry))
    for deployment in _deployments(start, end, services):
        found.append(
            (
                deployment.service.slug,
                Entry(
                    "deployment",
                    deployment.started_at,
                    deployment.finished_at,
                    f"Deploy {deployment.version} → {deployment.environment} ({deployment.status})",
                    reverse("admin:changes_change_change", args=[deployment.change_id]),
                    "deployment-suspect" if deployment.suspect_incident_id else f"deployment-{deployment.status}",
                ),
            )
        )
    for window in _freezes(services):
        labels = [ALL_SERVICES] if window.all_services else [s.slug for s in window.services.all()]
        for begins, ends in occurrences(window, start, end):
            entry = Entry(
                "freeze",
                begins,
                ends,
                f"Freeze: {window.name}",
                reverse("admin:changes_freezewindow_change", args=[window.pk]),
                "freeze",
            )
            found.extend((label, entry) for label in labels)
    return found


def calendar_rows(start_day: date, days: int = 7, services=None) -> tuple[list[date], list[Row]]:
    start, end = window_bounds(start_day, days)
    day_list = [start_day + timedelta(days=i) for i in range(days)]
    rows: dict[str, Row] = {}
    for label, entry in entries(start, end, services):
        row = rows.setdefault(label, Row(label, [[] for _ in day_list]))
        first = max(timezone.localtime(entry.starts_at).date(), start_day)
        last = timezone.localtime(entry.ends_at - timedelta(microseconds=1)).date() if entry.ends_at else first
        for index, day in enumerate(day_list):
            if first <= day <= max(last, first):
                row.days[index].append(entry)
    for row in rows.values():
        for cell in row.days:
            cell.sort(key=lambda e: (e.kind != "freeze", e.starts_at))
    ordered = sorted(rows.values(), key=lambda r: (r.service != ALL_SERVICES, r.service))
    return day_list, ordered


def render_ical(*, feed: ChangeCalendarFeed, now: datetime | None = None) -> bytes:
    """VEVENTs for planned changes, deployments and freeze windows from a week back to 60 days ahead."""
    from icalendar import Calendar, Event

    now = now or timezone.now()
    services = list(feed.services.all()) or None
    calendar = Calendar()
    calendar.add("prodid", "-//Vigil//Changes//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"Changes: {feed.name}")
    seen = set()
    for label, entry in entries(now - FEED_PAST, now + FEED_FUTURE, services):
        uid = f"vigil-{entry.kind}-{entry.url}-{int(entry.starts_at.timestamp())}"
        if uid in seen:
            continue
        seen.add(uid)
        event = Event()
        event.add("uid", f"{hashlib.sha256(uid.encode()).hexdigest()[:20]}@vigil")  # stable across fetches
        event.add("dtstamp", now)
        event.add("dtstart", entry.starts_at)
        event.add("dtend", entry.ends_at or entry.starts_at + timedelta(minutes=15))
        event.add("summary", entry.title if label == ALL_SERVICES else f"[{label}] {entry.title}")
        event.add("categories", [entry.kind.upper()])
        calendar.add_component(event)
    return calendar.to_ical()


def all_service_slugs() -> list[str]:
    return list(Service.objects.order_by("slug").values_list("slug", flat=True))
