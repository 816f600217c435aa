"""Pushed counts: intervals stored idempotently on their start, rolled up by the hour."""

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import connection, transaction

from governance.audit import audit_record
from governance.errors import ValidationFailed

from ..choices import SourceKind
from ..models import SLO, HourlyCount, PushedInterval
from ..windows import floor_hour

MAX_INTERVALS = 10_000
MAX_INTERVAL_LENGTH = timedelta(hours=1)  # an interval counts in the hour of its start: no longer than one


def _validate(intervals: list[dict]) -> None:
    fields: dict[str, list[str]] = {}
    if not isinstance(intervals, list) or not intervals:
        raise ValidationFailed("Send at least one interval.", fields={"intervals": ["At least one interval."]})
    if len(intervals) > MAX_INTERVALS:
        raise ValidationFailed(
            f"At most {MAX_INTERVALS} intervals per request.", fields={"intervals": [f"At most {MAX_INTERVALS}."]}
        )
    seen: dict[datetime, int] = {}
    for index, item in enumerate(intervals):
        prefix = f"intervals.{index}"
        start, end, good, total = item.get("start"), item.get("end"), item.get("good"), item.get("total")
        for name, value in (("start", start), ("end", end)):
            if not isinstance(value, datetime) or value.tzinfo is None:
                fields[f"{prefix}.{name}"] = ["A date-time with an offset is required."]
        for name, value in (("good", good), ("total", total)):
            if not isinstance(value, int) or isinstance(value, bool):
                fields[f"{prefix}.{name}"] = ["An integer is required."]
            elif value < 0:
                fields[f"{prefix}.{name}"] = ["Must not be negative."]
        if isinstance(good, int) and isinstance(total, int) and 0 <= total < good:
            fields[f"{prefix}.good"] = [f"good ({good}) must not exceed total ({total})."]
        if isinstance(start, datetime) and isinstance(end, datetime) and start.tzinfo and end.tzinfo:
            if end <= start:
                fields[f"{prefix}.end"] = ["Must be after start."]
            elif end - start > MAX_INTERVAL_LENGTH:
                fields[f"{prefix}.end"] = ["An interval is at most one hour long."]
            if start in seen:
                fields[f"{prefix}.start"] = [f"Same start as intervals.{seen[start]}."]
            seen[start] = index
    if fields:
        raise ValidationFailed("The intervals are not valid.", fields=fields)


def _add_to_hours(slo_id: int, deltas: dict[datetime, list[int]]) -> None:
    """Upsert the hourly roll-ups by the deltas (ON CONFLICT: PostgreSQL and SQLite alike)."""
    rows = [(hour, d[0], d[1]) for hour, d in deltas.items() if d[0] or d[1]]
    if not rows:
        return
    table = HourlyCount._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    placeholders = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    params = [v for hour, good, total in rows for v in (slo_id, adapt(hour), good, total)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (slo_id, hour, good, total) VALUES {placeholders} "
            f"ON CONFLICT (slo_id, hour) DO UPDATE SET good = {table}.good + excluded.good, "
            f"total = {table}.total + excluded.total",
            params,
        )


@transaction.atomic
def slo_push_intervals(*, slo: SLO, intervals: list[dict]) -> dict[str, int]:
    """Store good/total per interval; the same start again updates that interval (or changes nothing)."""
    if slo.source_kind != SourceKind.PUSHED:
        raise ValidationFailed(
            f"SLO {slo.slug} reads Prometheus; it takes no pushed counts.",
            code="not_pushed",
            fields={"slo": ["This SLO's source is Prometheus."]},
        )
    _validate(intervals)
    slo = SLO.objects.select_for_update().get(pk=slo.pk)  # one push per SLO at a time
    if slo.raw_purged_before is not None:
        late = {
            f"intervals.{i}.start": [
                f"Before {slo.raw_purged_before.isoformat()}: older counts are kept as hourly roll-ups only "
                "and can no longer be changed."
            ]
            for i, item in enumerate(intervals)
            if item["start"] < slo.raw_purged_before
        }
        if late:
            raise ValidationFailed("Some intervals are older than the raw retention.", fields=late)
    starts = [item["start"] for item in intervals]
    existing = {row.start: row for row in PushedInterval.objects.filter(slo=slo, start__in=starts)}
    created, updated = [], []
    unchanged = 0
    deltas: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    for item in intervals:
        row = existing.get(item["start"])
        if row is None:
            created.append(
                PushedInterval(slo=slo, start=item["start"], end=item["end"], good=item["good"], total=item["total"])
            )
            delta = deltas[floor_hour(item["start"])]
            delta[0] += item["good"]
            delta[1] += item["total"]
        elif (row.end, row.good, row.total) == (item["end"], item["good"], item["total"]):
            unchanged += 1
        else:
            delta = deltas[floor_hour(row.start)]
            delta[0] += item["good"] - row.good
            delta[1] += item["total"] - row.total
            row.end, row.good, row.total = item["end"], item["good"], item["total"]
            updated.append(row)
    PushedInterval.objects.bulk_create(created, batch_size=1000)
    PushedInterval.objects.bulk_update(updated, ["end", "good", "total"], batch_size=1000)
    _add_to_hours(slo.pk, deltas)
    result = {"created": len(created), "updated": len(updated), "unchanged": unchanged}
    if created or updated:
        audit_record(
            action="slo.push_counts",
            obj=slo,
            changes={
                "intervals": [None, result],
                "from": [None, min(starts)],
                "to": [None, max(item["end"] for item in intervals)],
            },
        )
    return result


def rebuild_hourly(*, slo: SLO) -> int:
    """Recompute the roll-ups of one SLO from its intervals (repair; the push keeps them exact)."""
    from django.db.models import Sum
    from django.db.models.functions import TruncHour

    with transaction.atomic():
        HourlyCount.objects.filter(slo=slo).delete()
        rows = (
            PushedInterval.objects.filter(slo=slo)
            .annotate(h=TruncHour("start"))
            .values("h")
            .annotate(g=Sum("good"), t=Sum("total"))
        )
        objs = [HourlyCount(slo=slo, hour=r["h"], good=r["g"], total=r["t"]) for r in rows]
        HourlyCount.objects.bulk_create(objs, batch_size=1000)
        audit_record(action="slo.rebuild_hourly", obj=slo, changes={"hours": [None, len(objs)]})
    return len(objs)


RAW_RETENTION = timedelta(days=40)  # longer than any window (31 days) plus the 3-day burn window and margin


def slos_purge_raw_intervals(*, now: datetime) -> int:
    """Delete raw intervals older than the retention (the hourly roll-ups stay); audited per SLO."""
    cutoff = floor_hour(now - RAW_RETENTION)
    deleted_total = 0
    for slo in SLO.objects.filter(source_kind=SourceKind.PUSHED).order_by("pk"):
        with transaction.atomic():
            locked = SLO.objects.select_for_update().get(pk=slo.pk)
            deleted, _ = PushedInterval.objects.filter(slo=locked, start__lt=cutoff).delete()
            if locked.raw_purged_before is None or locked.raw_purged_before < cutoff:
                before = locked.raw_purged_before
                locked.raw_purged_before = cutoff
                locked.save(update_fields=["raw_purged_before", "updated_at"])
                if deleted:
                    audit_record(
                        action="slo.purge_raw_intervals",
                        obj=locked,
                        changes={"raw_purged_before": [before, cutoff], "intervals_deleted": [None, deleted]},
                    )
            deleted_total += deleted
    return deleted_total
