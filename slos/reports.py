"""The weekly SLO review: a page in the admin and the same rows as CSV."""

import csv
from datetime import UTC, datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from .selectors import attainment

COLUMNS = [
    "slo",
    "name",
    "service",
    "objective",
    "window",
    "achieved_sli",
    "met",
    "budget_consumed",
    "page_episodes",
    "ticket_episodes",
    "budget_status",
    "basis",
]


def _period(request) -> tuple[datetime, datetime]:
    end = timezone.now()
    try:
        days = int(request.GET.get("days", 7))
    except ValueError:
        days = 7
    days = min(max(days, 1), 366)
    return end - timedelta(days=days), end


def review_view(request):
    if not request.user.has_perm("slos.view_slo"):
        raise PermissionDenied
    start, end = _period(request)
    rows = attainment(start=start, end=end)
    from django.contrib import admin

    context = {
        **admin.site.each_context(request),
        "title": "Weekly SLO review",
        "rows": rows,
        "start": start.astimezone(UTC),
        "end": end.astimezone(UTC),
        "days": (end - start).days,
    }
    return TemplateResponse(request, "admin/slos/review.html", context)


def review_csv(request):
    if not request.user.has_perm("slos.view_slo"):
        raise PermissionDenied
    start, end = _period(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="slo-review-{end:%Y-%m-%d}.csv"'
    writer = csv.writer(response)
    writer.writerow(["period_start", "period_end", *COLUMNS])
    for row in attainment(start=start, end=end):
        writer.writerow([start.isoformat(), end.isoformat(), *[_cell(row[c]) for c in COLUMNS]])
    return response


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return value
