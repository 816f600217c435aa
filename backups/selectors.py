"""Reads of the backups app: freshness, drills due, the figures the dashboard, metrics and scorecard show."""

import datetime as dt

from django.db.models import Max, Q
from django.utils import timezone

from .choices import DrillStatus
from .models import BackupTarget, RestoreDrill, RpoBreach


def last_passed_drill_by_target() -> dict[int, dt.datetime]:
    """target id → start of its newest passed drill (one grouped query)."""
    rows = (
        RestoreDrill.objects.filter(status=DrillStatus.PASSED)
        .values("target_id")
        .annotate(last=Max("started_at"))
        .values_list("target_id", "last")
    )
    return dict(rows)


def next_drill_due_by_target(targets) -> dict[int, dt.datetime]:
    from .services.drills import next_drill_due

    last = last_passed_drill_by_target()
    return {t.pk: next_drill_due(t, last_passed_at=last.get(t.pk)) for t in targets}


def targets_with_freshness(*, now: dt.datetime | None = None) -> list[dict]:
    """Every enabled target with its freshness and drill state, in two queries."""
    now = now or timezone.now()
    targets = list(BackupTarget.objects.filter(enabled=True).select_related("service").order_by("slug"))
    due = next_drill_due_by_target(targets)
    last = last_passed_drill_by_target()
    rows = []
    for target in targets:
        interval = dt.timedelta(days=target.drill_interval_days)
        rows.append(
            {
                "target": target,
                "last_success_at": target.last_success_at,
                "rpo_breached": target.rpo_breached_since is not None,
                "next_drill_due": due[target.pk],
                "drill_overdue": due[target.pk] < now,
                "drilled_within_interval": bool(last.get(target.pk) and now - last[target.pk] <= interval),
            }
        )
    return rows


def open_breaches():
    return RpoBreach.objects.filter(cleared_at__isnull=True).select_related("target").order_by("detected_at", "id")


def overdue_drills():
    return RestoreDrill.objects.filter(status=DrillStatus.OVERDUE).select_related("target").order_by("scheduled_for")


def recent_drills(limit: int = 10):
    return (
        RestoreDrill.objects.filter(Q(status=DrillStatus.PASSED) | Q(status=DrillStatus.FAILED))
        .select_related("target", "backup_run")
        .order_by("-verified_at", "-id")[:limit]
    )
