"""Non-trivial reads of the changes app."""

import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import connection, models
from django.db.models import Prefetch, Q, QuerySet

from governance.models import Service
from incidents.choices import OPEN_STATUSES

from .choices import TERMINAL_STATUSES, ChangeKind, ExceptionStatus, FreezeRecurrence
from .freeze import active_occurrence, occurrences
from .models import Change, Deployment, FreezeException, FreezeWindow

WHAT_CHANGED_BEFORE = timedelta(hours=24)
PANEL_LIMIT = 50


def freeze_windows_for(*, service: Service | None = None, at: datetime | None = None) -> QuerySet[FreezeWindow]:
    """Active windows that apply to `service` (all windows when None); one-off windows already over are left out."""
    qs = FreezeWindow.objects.filter(active=True)
    if service is not None:
        qs = qs.filter(Q(all_services=True) | Q(services=service)).distinct()
    if at is not None:
        qs = qs.filter(~Q(recurrence=FreezeRecurrence.ONCE) | Q(ends_at__gt=at))
    return qs.order_by("name", "pk")


def _freeze_sql(*, service: Service, at: datetime) -> tuple[str, list]:
    window = FreezeWindow._meta.db_table
    through = FreezeWindow.services.through._meta.db_table
    sql = (
        f"SELECT w.* FROM {window} w WHERE w.active AND (w.recurrence <> %s OR w.ends_at > %s) "
        f"AND (w.all_services OR EXISTS (SELECT 1 FROM {through} s WHERE s.freezewindow_id = w.id "
        "AND s.service_id = %s)) ORDER BY w.name, w.id"
    )
    return sql, [FreezeRecurrence.ONCE.value, at, service.pk]


def _freeze_candidates(*, service: Service, at: datetime):
    """Raw SQL on the gate's hot path: the ORM's query compilation costs more than the query itself."""
    return FreezeWindow.objects.raw(*_freeze_sql(service=service, at=at))


def active_freezes(
    *, service: Service, environment: str, at: datetime, windows: list | None = None
) -> list[tuple[FreezeWindow, datetime, datetime]]:
    """(window, start, end) for each window in force for this service and environment at `at`."""
    result = []
    candidates = windows if windows is not None else _freeze_candidates(service=service, at=at)
    for window in candidates:
        if not window.covers_environment(environment):
            continue
        occurrence = active_occurrence(window, at)
        if occurrence:
            result.append((window, *occurrence))
    return result


def approved_exception(
    *, window: FreezeWindow, service: Service, at: datetime, change: Change | None = None
) -> FreezeException | None:
    qs = FreezeException.objects.filter(
        window=window, status=ExceptionStatus.APPROVED, valid_from__lte=at, valid_until__gt=at
    ).filter(Q(service__isnull=True) | Q(service=service))
    if change is not None:
        qs = qs.filter(Q(change__isnull=True) | Q(change=change))
    return qs.order_by("-valid_until").first()


def freeze_conflicts(*, change: Change) -> list[tuple[FreezeWindow, datetime, datetime]]:
    """Freeze occurrences the change's planned window overlaps without an approved exception for it."""
    if not change.planned_start:
        return []
    end = change.planned_end or change.planned_start + timedelta(minutes=1)
    services = list(change.services.all())
    windows = (
        FreezeWindow.objects.filter(active=True).filter(Q(all_services=True) | Q(services__in=services)).distinct()
    )
    excepted = set(
        FreezeException.objects.filter(change=change, status=ExceptionStatus.APPROVED).values_list(
            "window_id", flat=True
        )
    )
    conflicts = []
    for window in windows:
        if window.pk in excepted:
            continue
        for start, stop in occurrences(window, change.planned_start, end):
            conflicts.append((window, start, stop))
            break
    return conflicts


def _change_sql(*, service: Service, version: str) -> tuple[str, list]:
    change = Change._meta.db_table
    through = Change.services.through._meta.db_table
    terminal = ", ".join(["%s"] * len(TERMINAL_STATUSES))
    sql = (
        f"SELECT c.* FROM {change} c WHERE c.release_tag = %s AND c.kind <> %s AND c.status NOT IN ({terminal}) "
        f"AND EXISTS (SELECT 1 FROM {through} s WHERE s.change_id = c.id AND s.service_id = %s) "
        "ORDER BY c.created_at DESC, c.id DESC LIMIT 1"
    )
    return sql, [version, ChangeKind.STANDARD.value, *[str(s) for s in TERMINAL_STATUSES], service.pk]


def change_for_release(*, service: Service, version: str) -> Change | None:
    """The newest open normal or emergency change of this service naming this release (raw SQL: gate path)."""
    found = list(Change.objects.raw(*_change_sql(service=service, version=version)))
    return found[0] if found else None


def _incidents_sql(*, service: Service, limit: int) -> tuple[str, list]:
    from incidents.models import Incident

    statuses = [str(s) for s in OPEN_STATUSES]
    sql = (
        f"SELECT id, title, severity, status, service_id, declared_at FROM {Incident._meta.db_table} "
        f"WHERE service_id = %s AND severity IN (%s, %s) AND status IN ({', '.join(['%s'] * len(statuses))}) "
        "ORDER BY declared_at DESC, id DESC LIMIT %s"
    )
    return sql, [service.pk, "SEV1", "SEV2", *statuses, limit]


def open_severe_incidents(*, service: Service, limit: int = 10) -> list:
    """Open SEV1/SEV2 incidents of the service, newest first (raw SQL: gate path)."""
    from incidents.models import Incident

    return list(Incident.objects.raw(*_incidents_sql(service=service, limit=limit)))


@dataclass(frozen=True)
class GateFacts:
    """What changes' own gate checks read, fetched together."""

    service_id: int
    version: str
    at: datetime
    windows: list
    change: Change | None
    incidents: list
    exceptions: list

    def exception_for(self, *, window, service, at, change=None):
        """The in-memory twin of `approved_exception` over the prefetched approved exceptions."""
        for exception in self.exceptions:
            if (
                exception.window_id == window.pk
                and exception.valid_from <= at < exception.valid_until
                and exception.service_id in (None, service.pk)
                and (change is None or exception.change_id in (None, change.pk))
            ):
                return exception
        return None


def _from_json(model, row: dict):
    values = {}
    for f in model._meta.concrete_fields:
        if f.attname not in row:
            continue
        value = row[f.attname]
        if isinstance(value, str) and isinstance(f, models.DateTimeField):
            value = datetime.fromisoformat(value)
        elif isinstance(value, str) and isinstance(f, models.TimeField):
            value = time.fromisoformat(value)
        values[f.attname] = value
    obj = model(**values)
    obj._state.adding = False
    return obj


def gate_facts(*, service: Service, version: str, at: datetime, limit: int = 10) -> GateFacts:
    """Freeze windows, the release's change and open SEV1/SEV2s in one round trip on PostgreSQL
    (three on SQLite): the gate answers a pipeline and its latency is mostly round trips."""
    from incidents.models import Incident

    if connection.vendor != "postgresql":
        return GateFacts(
            service.pk,
            version,
            at,
            list(_freeze_candidates(service=service, at=at)),
            change_for_release(service=service, version=version),
            open_severe_incidents(service=service, limit=limit),
            list(
                FreezeException.objects.filter(
                    status=ExceptionStatus.APPROVED, valid_from__lte=at, valid_until__gt=at
                ).filter(Q(service__isnull=True) | Q(service=service))
            ),
        )
    parts, params = [], []
    for tag, (sql, args) in (
        ("w", _freeze_sql(service=service, at=at)),
        ("c", _change_sql(service=service, version=version)),
        ("i", _incidents_sql(service=service, limit=limit)),
        (
            "e",
            (
                f"SELECT e.* FROM {FreezeException._meta.db_table} e WHERE e.status = %s AND e.valid_from <= %s "
                "AND e.valid_until > %s AND (e.service_id IS NULL OR e.service_id = %s)",
                [ExceptionStatus.APPROVED.value, at, at, service.pk],
            ),
        ),
    ):
        parts.append(f"SELECT '{tag}' AS tag, row_to_json(q)::text AS row FROM ({sql}) q")
        params.extend(args)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    windows, changes, incidents, exceptions = [], [], [], []
    for tag, text in rows:
        row = json.loads(text)
        if tag == "w":
            windows.append(_from_json(FreezeWindow, row))
        elif tag == "c":
            changes.append(_from_json(Change, row))
        elif tag == "e":
            exceptions.append(_from_json(FreezeException, row))
        else:
            incidents.append(_from_json(Incident, row))
    windows.sort(key=lambda w: (w.name, w.pk))
    incidents.sort(key=lambda i: (i.declared_at, i.pk), reverse=True)
    return GateFacts(service.pk, version, at, windows, changes[0] if changes else None, incidents, exceptions)


def what_changed(*, incident, before: timedelta = WHAT_CHANGED_BEFORE) -> dict:
    """Deployments and changes of the incident's service in the `before` hours before its declaration."""
    since = incident.declared_at - before
    deployments = list(
        Deployment.objects.filter(
            service_id=incident.service_id, started_at__gte=since, started_at__lte=incident.declared_at
        )
        .select_related("change", "change__implementer", "service")
        .order_by("-started_at", "-id")[:PANEL_LIMIT]
    )
    changes = list(
        Change.objects.filter(services=incident.service_id)
        .filter(
            Q(actual_start__gte=since, actual_start__lte=incident.declared_at)
            | Q(actual_start__isnull=True, planned_start__gte=since, planned_start__lte=incident.declared_at)
        )
        .exclude(kind=ChangeKind.STANDARD, deployments__isnull=False)
        .select_related("implementer")
        .distinct()
        .order_by("-planned_start", "-id")[:PANEL_LIMIT]
    )
    return {"deployments": deployments, "changes": changes}


def changes_with_related() -> QuerySet[Change]:
    return Change.objects.select_related("implementer", "approved_by").prefetch_related(
        Prefetch("services", queryset=Service.objects.only("pk", "slug", "name").order_by("slug"))
    )


def delivery_metrics(*, by: str, since: datetime, until: datetime | None = None) -> list[dict]:
    """Deployment frequency, lead time (submitted → deployed), change failure rate and time to restore,
    grouped by "month" or "service", computed from the records (two queries)."""
    from django.db.models import Exists, OuterRef, Sum

    from incidents.models import IncidentDailyStat

    from .models import SuspectedCause

    if by not in ("month", "service"):
        raise ValueError("by is month or service")
    until = until or timezone_now()
    linked = SuspectedCause.objects.filter(deployment=OuterRef("pk"))
    rows = (
        Deployment.objects.filter(started_at__gte=since, started_at__lt=until)
        .annotate(failed_change=Exists(linked))
        .values("service__slug", "started_at", "finished_at", "status", "change__submitted_at", "failed_change")
    )
    groups: dict = {}

    def key_of(slug, when):
        day = when.date() if isinstance(when, datetime) else when
        return day.replace(day=1) if by == "month" else slug

    for row in rows:
        group = groups.setdefault(
            key_of(row["service__slug"], row["started_at"]), {"deployments": 0, "failed": 0, "lead": [], "restore": []}
        )
        group["deployments"] += 1
        group["failed"] += int(row["failed_change"])
        if row["status"] == "succeeded" and row["change__submitted_at"] and row["finished_at"]:
            group["lead"].append(max((row["finished_at"] - row["change__submitted_at"]).total_seconds(), 0))
    # Time to restore from the incidents' daily roll-ups: the cost follows the period, not the history.
    restore_rows = (
        IncidentDailyStat.objects.filter(day__gte=since.date(), day__lt=until.date() + timedelta(days=1))
        .values("service__slug", "day")
        .annotate(n=Sum("ttr_count"), seconds=Sum("ttr_seconds"))
        .filter(n__gt=0)
    )
    for row in restore_rows:
        group = groups.setdefault(
            key_of(row["service__slug"], row["day"]), {"deployments": 0, "failed": 0, "lead": [], "restore": []}
        )
        group["restore"].append((row["seconds"], row["n"]))
    if by == "month":
        month = since.date().replace(day=1)
        last = until.date().replace(day=1)
        while month <= last:
            groups.setdefault(month, {"deployments": 0, "failed": 0, "lead": [], "restore": []})
            month = (month + timedelta(days=32)).replace(day=1)
    result = []
    for key in sorted(groups, key=lambda k: (k is None, k)):
        group = groups[key]
        count = group["deployments"]
        result.append(
            {
                "key": key,
                "deployments": count,
                "failed_deployments": group["failed"],
                "change_failure_rate": group["failed"] / count if count else None,
                "lead_time_seconds": sum(group["lead"]) / len(group["lead"]) if group["lead"] else None,
                "time_to_restore_seconds": (
                    sum(seconds for seconds, _ in group["restore"]) / sum(n for _, n in group["restore"])
                    if group["restore"]
                    else None
                ),
            }
        )
    return result


def timezone_now():
    from django.utils import timezone

    return timezone.now()
