"""Reads that are more than a filter: clocks for the sweepers, the timeline, the metrics."""

from datetime import UTC, datetime, timedelta

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from .choices import ACTION_ITEM_OPEN_STATUSES, OPEN_STATUSES, IncidentStatus, PostmortemStatus
from .models import ActionItem, AlertmanagerPayload, Incident, IncidentDailyStat, IncidentEvent, Postmortem
from .services.alertmanager import MAX_ATTEMPTS

SWEEP_BATCH = 200
METRICS_PERIOD = timedelta(days=90)  # what the dashboard and the gauges summarise


def open_incidents_past_ack(*, now: datetime) -> QuerySet[Incident]:
    """Unacknowledged, not yet breached, deadline passed. Uses the partial index `incident_awaiting_ack`."""
    return Incident.objects.filter(status=IncidentStatus.DECLARED, ack_breached=False, ack_due_at__lte=now).order_by(
        "ack_due_at", "id"
    )


def incidents_with_update_due(*, now: datetime) -> QuerySet[Incident]:
    return (
        Incident.objects.filter(status__in=OPEN_STATUSES, next_update_due_at__lte=now)
        .filter(Q(update_reminded_at__isnull=True) | Q(update_reminded_at__lt=F("next_update_due_at")))
        .order_by("next_update_due_at", "id")
    )


def postmortems_overdue(*, now: datetime) -> QuerySet[Postmortem]:
    return (
        Postmortem.objects.exclude(status=PostmortemStatus.PUBLISHED)
        .filter(due_at__lte=now)
        .filter(Q(reminded_at__isnull=True) | Q(reminded_at__lte=now - timedelta(hours=23)))
        .order_by("due_at", "id")
    )


def action_items_overdue(*, now: datetime) -> QuerySet[ActionItem]:
    return (
        ActionItem.objects.filter(status__in=ACTION_ITEM_OPEN_STATUSES, due_date__lt=now.date())
        .filter(Q(reminded_at__isnull=True) | Q(reminded_at__lte=now - timedelta(hours=23)))
        .order_by("due_date", "id")
    )


def unprocessed_payload_ids(*, now: datetime, older_than: timedelta = timedelta(minutes=1)) -> list[int]:
    return list(
        AlertmanagerPayload.objects.filter(
            processed_at__isnull=True, received_at__lte=now - older_than, attempts__lt=MAX_ATTEMPTS
        )
        .order_by("received_at", "id")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )


def incident_timeline(*, incident: Incident, limit: int | None = None) -> QuerySet[IncidentEvent]:
    """Newest first, one query (actor label is denormalised on the row)."""
    qs = IncidentEvent.objects.filter(incident=incident).order_by("-occurred_at", "-id")
    return qs[:limit] if limit else qs


# --- metrics ------------------------------------------------------------------------------
# Read from IncidentDailyStat (kept by triggers): the cost follows the days shown, not the history kept.


def incident_metrics(*, by: str, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    """MTTA, MTTR (seconds) and ack-SLA compliance (0–1) grouped by severity, service or month.

    `since` and `until` (default: now) count whole days (UTC): the roll-up's grain, both ends included.
    """
    keys = {"severity": "severity", "service": "service__slug", "month": "month"}
    qs = IncidentDailyStat.objects.all()
    if since is not None:
        # A closed range, not `day >= since` alone: without fresh statistics (right after a bulk load,
        # before autovacuum analyses the roll-up) the planner takes an open range for a third of the
        # table and scans all of it, in parallel, which costs more the longer the history. A closed range
        # is estimated small and read through the (day, severity, service) key; with statistics, the same.
        until = until or timezone.now()
        qs = qs.filter(day__range=(since.astimezone(UTC).date(), until.astimezone(UTC).date()))
    if by == "month":
        qs = qs.annotate(month=TruncMonth("day"))
    rows = (
        qs.values(keys[by])
        .annotate(
            total=Sum("incidents"),
            open=Sum("open_count"),
            tta_n=Sum("tta_count"),
            tta_s=Sum("tta_seconds"),
            ttr_n=Sum("ttr_count"),
            ttr_s=Sum("ttr_seconds"),
            decided_n=Sum("decided"),
            met_n=Sum("met"),
            breached_n=Sum("breached"),
        )
        .filter(total__gt=0)
        .order_by(keys[by])
    )
    return [
        {
            "key": row[keys[by]],
            "incidents": row["total"],
            "open": row["open"],
            "mtta_seconds": row["tta_s"] / row["tta_n"] if row["tta_n"] else None,
            "mttr_seconds": row["ttr_s"] / row["ttr_n"] if row["ttr_n"] else None,
            "ack_sla_compliance": (row["met_n"] / row["decided_n"]) if row["decided_n"] else None,
            "breached": row["breached_n"],
        }
        for row in rows
    ]


def postmortem_on_time(*, now: datetime | None = None, period: timedelta = METRICS_PERIOD) -> dict:
    """Of the postmortems due in the period or published: how many on time; overdue ones whatever their age.

    Bounded by time, not history: recent ones through `postmortem_due`, unpublished through its partial index.
    """
    now = now or timezone.now()
    published = Q(status=PostmortemStatus.PUBLISHED)
    in_period = Q(due_at__gte=now - period, due_at__lte=now) | Q(published_at__gte=now - period)
    row = Postmortem.objects.filter(in_period | (~published & Q(due_at__lte=now))).aggregate(
        counted=Count("id", filter=in_period & (published | Q(due_at__lte=now))),
        on_time=Count("id", filter=in_period & published & Q(published_at__lte=F("due_at"))),
        overdue=Count("id", filter=~published & Q(due_at__lte=now)),
    )
    row["rate"] = (row["on_time"] / row["counted"]) if row["counted"] else None
    return row


def action_item_counts(*, today=None) -> dict:
    today = today or timezone.now().date()
    return ActionItem.objects.aggregate(
        open=Count("id", filter=Q(status__in=ACTION_ITEM_OPEN_STATUSES)),
        overdue=Count("id", filter=Q(status__in=ACTION_ITEM_OPEN_STATUSES, due_date__lt=today)),
    )


def open_incident_counts() -> dict:
    """Open incidents and open ack breaches per severity, one query."""
    rows = (
        Incident.objects.filter(status__in=OPEN_STATUSES)
        .values("severity")
        # A breach counts from its deadline, whether or not the sweeper has recorded it yet.
        .annotate(
            open=Count("id"),
            breached=Count(
                "id",
                filter=Q(ack_breached=True) | Q(status=IncidentStatus.DECLARED, ack_due_at__lte=timezone.now()),
            ),
        )
    )
    return {row["severity"]: row for row in rows}


def breached_open_incidents() -> QuerySet[Incident]:
    return (
        Incident.objects.filter(status__in=OPEN_STATUSES)
        .filter(Q(ack_breached=True) | Q(status=IncidentStatus.DECLARED, ack_due_at__lte=timezone.now()))
        .select_related("service")
        .order_by("ack_due_at", "id")
    )
