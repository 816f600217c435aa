"""Reads that are more than a filter: clocks for the sweepers, the timeline, the metrics."""

from datetime import datetime, timedelta

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.utils import timezone

from .choices import ACTION_ITEM_OPEN_STATUSES, OPEN_STATUSES, IncidentStatus, PostmortemStatus
from .models import ActionItem, AlertmanagerPayload, Incident, IncidentEvent, Postmortem
from .services.alertmanager import MAX_ATTEMPTS

SWEEP_BATCH = 200


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

_TTA = ExpressionWrapper(F("acknowledged_at") - F("declared_at"), output_field=DurationField())
_TTR = ExpressionWrapper(F("resolved_at") - F("declared_at"), output_field=DurationField())
_DECIDED = Q(acknowledged_at__isnull=False) | Q(ack_breached=True)
_MET = Q(acknowledged_at__isnull=False, ack_breached=False, acknowledged_at__lte=F("ack_due_at"))


def _seconds(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value) / 1_000_000  # SQLite hands durations back as microseconds


def incident_metrics(*, by: str, since: datetime | None = None) -> list[dict]:
    """MTTA, MTTR (seconds) and ack-SLA compliance (0–1) grouped by severity, service or month."""
    keys = {"severity": "severity", "service": "service__slug", "month": "month"}
    qs = Incident.objects.all()
    if since is not None:
        qs = qs.filter(declared_at__gte=since)
    if by == "month":
        qs = qs.annotate(month=TruncMonth("declared_at"))
    rows = (
        qs.values(keys[by])
        .annotate(
            incidents=Count("id"),
            open=Count("id", filter=Q(status__in=OPEN_STATUSES)),
            mtta=Avg(_TTA, filter=Q(acknowledged_at__isnull=False)),
            mttr=Avg(_TTR, filter=Q(resolved_at__isnull=False)),
            decided=Count("id", filter=_DECIDED),
            met=Count("id", filter=_MET),
            breached=Count("id", filter=Q(ack_breached=True)),
        )
        .order_by(keys[by])
    )
    result = []
    for row in rows:
        result.append(
            {
                "key": row[keys[by]],
                "incidents": row["incidents"],
                "open": row["open"],
                "mtta_seconds": _seconds(row["mtta"]),
                "mttr_seconds": _seconds(row["mttr"]),
                "ack_sla_compliance": (row["met"] / row["decided"]) if row["decided"] else None,
                "breached": row["breached"],
            }
        )
    return result


def postmortem_on_time(*, now: datetime | None = None) -> dict:
    """Of the postmortems whose due date has passed or that were published: how many on time."""
    now = now or timezone.now()
    row = Postmortem.objects.filter(due_at__isnull=False).aggregate(
        counted=Count("id", filter=Q(status=PostmortemStatus.PUBLISHED) | Q(due_at__lte=now)),
        on_time=Count("id", filter=Q(status=PostmortemStatus.PUBLISHED, published_at__lte=F("due_at"))),
        overdue=Count("id", filter=~Q(status=PostmortemStatus.PUBLISHED) & Q(due_at__lte=now)),
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
