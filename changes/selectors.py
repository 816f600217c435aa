"""Non-trivial reads of the changes app."""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import lru_cache

from django.db import DEFAULT_DB_ALIAS, connection, models
from django.db.models import DEFERRED, Prefetch, Q, QuerySet

from governance.db_prepared import fetch_prepared
from governance.models import Service
from governance.registries import GATE_SERVICE_ID
from incidents.choices import OPEN_STATUSES
from incidents.models import REFERENCE_PREFIX as INCIDENT_REFERENCE_PREFIX
from incidents.models import Incident

from .choices import SEVERE_SEVERITIES, TERMINAL_STATUSES, ChangeKind, ExceptionStatus, FreezeRecurrence
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


def _service_ref(service: Service | str) -> tuple[str, list]:
    """The service in the gate's SQL: a parameter for a Service, or GATE_SERVICE_ID inside the gate's query."""
    return (service, []) if isinstance(service, str) else ("%s", [service.pk])


def _freeze_sql(*, service: Service | str, at: datetime) -> tuple[str, list]:
    window = FreezeWindow._meta.db_table
    through = FreezeWindow.services.through._meta.db_table
    service_sql, service_params = _service_ref(service)
    sql = (
        f"SELECT w.* FROM {window} w WHERE w.active "
        f"AND (w.recurrence <> {_sql_literals((FreezeRecurrence.ONCE,))} OR w.ends_at > %s) "
        f"AND (w.all_services OR EXISTS (SELECT 1 FROM {through} s WHERE s.freezewindow_id = w.id "
        f"AND s.service_id = {service_sql})) ORDER BY w.name, w.id"
    )
    return sql, [at, *service_params]


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


def _change_sql(*, service: Service | str, version: str) -> tuple[str, list]:
    change = Change._meta.db_table
    through = Change.services.through._meta.db_table
    service_sql, service_params = _service_ref(service)
    sql = (
        f"SELECT c.* FROM {change} c WHERE c.release_tag = %s AND c.kind <> {_sql_literals((ChangeKind.STANDARD,))} "
        f"AND c.status NOT IN ({_sql_literals(TERMINAL_STATUSES)}) "
        f"AND EXISTS (SELECT 1 FROM {through} s WHERE s.change_id = c.id AND s.service_id = {service_sql}) "
        "ORDER BY c.created_at DESC, c.id DESC LIMIT 1"
    )
    return sql, [version, *service_params]


def change_for_release(*, service: Service, version: str) -> Change | None:
    """The newest open normal or emergency change of this service naming this release (raw SQL: gate path)."""
    found = list(Change.objects.raw(*_change_sql(service=service, version=version)))
    return found[0] if found else None


@lru_cache(maxsize=32)
def _sql_literals(values: tuple) -> str:
    """Vigil's own choice values as SQL string literals (letters, digits and underscores only): constants
    in the gate's SQL are literals, not parameters, so a prepared statement's generic plan knows them."""
    for value in values:
        if not re.fullmatch(r"\w+", value, re.ASCII):
            raise ValueError(f"not a plain choice value: {value!r}")
    return ", ".join(f"'{value}'" for value in values)


def _incidents_sql(*, service: Service | str, limit: int) -> tuple[str, list]:
    # The open statuses are literals: the generic plan can then use the partial index of open incidents
    # (incident_open_by_service) and reads none of the service's history.
    service_sql, service_params = _service_ref(service)
    sql = (
        f"SELECT id, title, severity, status, declared_at FROM {Incident._meta.db_table} "
        f"WHERE service_id = {service_sql} AND severity IN ({_sql_literals(SEVERE_SEVERITIES)}) "
        f"AND status IN ({_sql_literals(tuple(OPEN_STATUSES))}) ORDER BY declared_at DESC, id DESC LIMIT %s"
    )
    return sql, [*service_params, limit]


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """An open SEV1/SEV2 as the gate names it in a reason: a row, not an Incident (the gate builds up to ten
    while a pipeline waits, and needs none of a model's machinery)."""

    pk: int
    reference: str
    title: str
    severity: str
    status: str
    declared_at: datetime

    @classmethod
    def from_row(cls, row: dict) -> "OpenIncident":
        declared_at = row["declared_at"]
        if isinstance(declared_at, str):  # row_to_json's ISO text
            declared_at = datetime.fromisoformat(declared_at)
        pk = row["id"]
        return cls(pk, f"{INCIDENT_REFERENCE_PREFIX}{pk}", row["title"], row["severity"], row["status"], declared_at)


def open_severe_incidents(*, service: Service, limit: int = 10) -> list[OpenIncident]:
    """Open SEV1/SEV2 incidents of the service, newest first (raw SQL: gate path)."""
    with connection.cursor() as cursor:
        cursor.execute(*_incidents_sql(service=service, limit=limit))
        columns = [column[0] for column in cursor.description]
        return [OpenIncident.from_row(dict(zip(columns, row, strict=True))) for row in cursor.fetchall()]


@dataclass(frozen=True)
class GateFacts:
    """Everything the gate reads, fetched together: changes' own facts and each registered check's rows."""

    service: Service
    version: str
    at: datetime
    windows: list
    change: Change | None
    incidents: list
    exceptions: list
    check_rows: dict = field(default_factory=dict)  # check name → list of row dicts (PostgreSQL only)

    @property
    def service_id(self) -> int:
        return self.service.pk

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


@lru_cache(maxsize=64)
def _row_plan(model, columns: tuple[str, ...]) -> tuple[int, list[tuple[int, str, object]]]:
    """For a row with these columns: how many concrete fields the model has, and for each field the row
    holds, its position, its name and what turns its JSON value into the field's value (datetimes and
    times come as ISO text; None: as it is)."""
    fields = model._meta.concrete_fields
    plan = []
    for position, f in enumerate(fields):
        if f.attname in columns:
            if isinstance(f, models.DateTimeField):
                convert = datetime.fromisoformat
            elif isinstance(f, models.TimeField):
                convert = time.fromisoformat
            else:
                convert = None
            plan.append((position, f.attname, convert))
    return len(fields), plan


def _from_json(model, row: dict):
    """A model instance from one row of the gate's query, the way the ORM builds one (`from_db`): a value
    per concrete field, DEFERRED where the row lacks the column — no per-field defaults computed. The
    gate reads through the default connection (fetch_prepared)."""
    size, plan = _row_plan(model, tuple(row))
    values = [DEFERRED] * size
    for position, name, convert in plan:
        value = row[name]
        values[position] = convert(value) if convert is not None and isinstance(value, str) else value
    return model.from_db(DEFAULT_DB_ALIAS, None, values)


def _exceptions_sql(*, service: Service | str, at: datetime) -> tuple[str, list]:
    service_sql, service_params = _service_ref(service)
    sql = (
        f"SELECT e.* FROM {FreezeException._meta.db_table} e "
        f"WHERE e.status = {_sql_literals((ExceptionStatus.APPROVED,))} AND e.valid_from <= %s "
        f"AND e.valid_until > %s AND (e.service_id IS NULL OR e.service_id = {service_sql})"
    )
    return sql, [at, at, *service_params]


def gate_facts(*, service: Service | str, version: str, at: datetime, checks=(), limit: int = 10) -> GateFacts | None:
    """The service (a Service, or its slug), its freeze windows, the release's change, its open SEV1/SEV2s,
    approved exceptions and the rows every check in `checks` names (GateCheck.facts), in one round trip on
    PostgreSQL: a pipeline waits on the gate, and its latency is mostly round trips. None when no service
    has that slug. On SQLite changes' facts are read one by one and the other checks read for themselves."""
    if connection.vendor != "postgresql":
        if isinstance(service, str):
            service = Service.objects.filter(slug=service).first()
            if service is None:
                return None
        return GateFacts(
            service,
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
    by_slug = isinstance(service, str)
    parts = [
        ("s", "SELECT * FROM gate_service", []),
        ("w", *_freeze_sql(service=GATE_SERVICE_ID, at=at)),
        ("c", *_change_sql(service=GATE_SERVICE_ID, version=version)),
        ("i", *_incidents_sql(service=GATE_SERVICE_ID, limit=limit)),
        ("e", *_exceptions_sql(service=GATE_SERVICE_ID, at=at)),
    ]
    parts += [(f"x{n}", *check.facts(at)) for n, check in enumerate(checks) if check.facts is not None]
    params: list = [service if by_slug else service.pk]
    selects = []
    for tag, sql, args in parts:  # tags are this function's own constants
        selects.append(f"SELECT '{tag}' AS tag, row_to_json(q)::text AS row FROM ({sql}) q")
        params.extend(args)
    query = (
        f"WITH gate_service AS MATERIALIZED (SELECT * FROM {Service._meta.db_table} "
        f"WHERE {'slug' if by_slug else 'id'} = %s) " + " UNION ALL ".join(selects)
    )
    rows = fetch_prepared(query, params)
    # Every row's JSON in one document, decoded at once: json.loads costs more per call than per byte.
    decoded = json.loads(f"[{','.join(text for _, text in rows)}]")
    found: dict[str, list] = {}
    for (tag, _), row in zip(rows, decoded, strict=True):
        found.setdefault(tag, []).append(row)
    if "s" not in found:
        return None
    windows = sorted((_from_json(FreezeWindow, r) for r in found.get("w", [])), key=lambda w: (w.name, w.pk))
    changes = [_from_json(Change, r) for r in found.get("c", [])]
    incidents = sorted(
        (OpenIncident.from_row(r) for r in found.get("i", [])), key=lambda i: (i.declared_at, i.pk), reverse=True
    )
    check_rows = {check.name: found.get(f"x{n}", []) for n, check in enumerate(checks) if check.facts is not None}
    return GateFacts(
        service if not by_slug else _from_json(Service, found["s"][0]),
        version,
        at,
        windows,
        changes[0] if changes else None,
        incidents,
        [_from_json(FreezeException, r) for r in found.get("e", [])],
        check_rows,
    )


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
