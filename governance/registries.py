"""Registries the apps fill from `AppConfig.ready()`.

Cross-cutting pages — the dashboard, health, metrics, the evidence bundle, the
scorecard, demo data — are built by iterating these; adding an app never means
editing the kernel.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items and self._items[name] is not item:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        return self._items[name]

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class HealthCheck:
    """`run()` returns a CheckResult. `critical` checks make /health answer 503 when they fail."""

    name: str
    run: Callable[[], Any]
    readiness: bool = False  # also part of /health/ready


@dataclass(frozen=True)
class DashboardPanel:
    """A block on the admin index. `render(request)` returns HTML, or "" to hide the panel.

    `order` sorts panels (lower first); `permission` hides it from users without it. `shared`: the
    HTML is the same for everyone who has `permission` (no per-person content, no other permission
    checked inside), so the dashboard may render it once per DASHBOARD_PANEL_CACHE_SECONDS for all.
    """

    name: str
    title: str
    render: Callable[[Any], str]
    order: int = 100
    permission: str | None = None
    shared: bool = False


@dataclass(frozen=True)
class ObjectPanel:
    """A block on one model's admin change page, contributed by an app above that model's app.

    `model` is the model label ("incidents.incident"); `render(request, obj)` returns HTML,
    or "" to hide the panel. This is how incidents show runbooks and changes without importing them.
    """

    name: str
    model: str
    title: str
    render: Callable[[Any, Any], str]
    order: int = 100


@dataclass(frozen=True)
class GateReason:
    """One machine-readable reason the release gate refuses a deployment."""

    code: str  # snake_case: freeze_window, open_incident, not_approved, rpo_breach, ...
    message: str
    details: dict = field(default_factory=dict)


# In a GateCheck's `facts` SQL: the id of the service the gate is asked about.
GATE_SERVICE_ID = "(SELECT id FROM gate_service)"


@dataclass(frozen=True)
class GateCheck:
    """`check(service, environment, version, now, rows=None)` returns a list of GateReasons (empty = no objection).

    A pipeline waits on the gate, and its latency is mostly round trips: a check that reads the
    database names its read in `facts(at) -> (sql, params)`, a PostgreSQL SELECT that uses
    GATE_SERVICE_ID for the service. The gate runs every check's read in its one round trip and passes
    the check its rows as `rows` (dicts, values as JSON gives them); called with `rows=None` (SQLite,
    or on its own) the check reads for itself.
    """

    name: str
    check: Callable[..., list[GateReason]]
    facts: Callable[[Any], tuple[str, list]] | None = None


@dataclass(frozen=True)
class MetricFamily:
    """`collect()` yields (labels dict, value) pairs for one Prometheus gauge."""

    name: str
    documentation: str
    collect: Callable[[], Any]
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvidenceExporter:
    """`export(start, end)` returns (columns, rows) for one record type of the bundle."""

    name: str
    export: Callable[[Any, Any], Any]
    controls: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScorecardDimension:
    """`score()` returns a dict: score (0–100), facts (list), next_steps (list)."""

    name: str
    title: str
    score: Callable[[], dict]


@dataclass(frozen=True)
class StatusSource:
    """Extra lines for `ops_status`: `collect()` yields CheckResults (breaches, overdue work).

    The dashboard's "Breaches and overdue work" lists the lines that are not ok of every source
    with `breaches=True`; a source whose lines are something else (the maturity score) says False.
    """

    name: str
    collect: Callable[[], Any]
    breaches: bool = True


@dataclass(frozen=True)
class ScheduledJob:
    """A job declared in code: its Celery task, when beat runs it and how fresh it must be."""

    name: str
    task: str
    every: timedelta | None = None
    crontab: dict[str, str] | None = None
    expected_every: timedelta = timedelta(hours=1)
    description: str = ""
    kwargs: dict = field(default_factory=dict)
    # Beat runs it at its first tick on a new install instead of one interval later: a daily check
    # whose answer a status line reports must not leave a fresh install unchecked for a day.
    run_at_install: bool = False


@dataclass(frozen=True)
class Webhook:
    """An inbound webhook's OpenAPI entry (the view itself is routed in the app's urls)."""

    path: str
    scope: str
    operation_id: str
    summary: str
    description: str
    request_schema: dict
    accepted_schema: dict
    tag: str


@dataclass(frozen=True)
class NeedsYouItem:
    """One line of "Needs you now": something this person has to do, and the page where it is done.

    `due_at` makes a live clock ("ack due in 3 min", "late by 12 min"); `due_label` names what is
    due ("ack", "update", "decision"). Lines without a deadline come after those with one.
    """

    kind: str  # incident, review, procedure, drill, change, remediation, exception, ...
    label: str
    url: str
    due_at: Any = None
    due_label: str = "due"
    severity: str = ""  # SEV1…SEV3 for incidents: shown as a badge


@dataclass(frozen=True)
class NeedsYouSource:
    """`collect(user, now)` returns the NeedsYouItems `user` has to act on, in a bounded number of queries.

    `watches` names the models ("app_label.Model", many-to-many through models included) whose writes
    change what `collect` returns: a committed write to one of them makes every person's cached list
    stale (governance.console). What changes with the clock alone (who is on call) is bounded by
    NEEDS_YOU_CACHE_SECONDS."""

    name: str
    collect: Callable[[Any, Any], list[NeedsYouItem]]
    watches: tuple[str, ...] = ()


@dataclass(frozen=True)
class JumpTarget:
    """The header's jump box: `exact(query)` returns the URL of the object a reference or slug names
    (INC-12, CHG-4, a runbook slug) or None; `search(query, limit)` returns (label, url) by title."""

    name: str
    title: str  # "Incidents"
    permission: str  # only people who may view these are offered them
    exact: Callable[[str], str | None]
    search: Callable[[str, int], list[tuple[str, str]]]


health_checks: Registry[HealthCheck] = Registry("health check")
dashboard_panels: Registry[DashboardPanel] = Registry("dashboard panel")
needs_you: Registry[NeedsYouSource] = Registry("needs-you source")
jump_targets: Registry[JumpTarget] = Registry("jump target")
object_panels: Registry[ObjectPanel] = Registry("object panel")
gate_checks: Registry[GateCheck] = Registry("release gate check")
metrics: Registry[MetricFamily] = Registry("metric")
evidence_exporters: Registry[EvidenceExporter] = Registry("evidence exporter")
scorecard_dimensions: Registry[ScorecardDimension] = Registry("scorecard dimension")
status_sources: Registry[StatusSource] = Registry("status source")
scheduled_jobs: Registry[ScheduledJob] = Registry("scheduled job")
webhooks: Registry[Webhook] = Registry("webhook")
# Kernel events (audit.chain_broken, ...) reach people through these: callables taking
# event_type, subject, body, idempotency_key, severity. Alerting registers its outbox here.
notifiers: Registry[Callable[..., Any]] = Registry("notifier")
# name → callable(stdout) that creates idempotent demo data for one app
demo_seeders: Registry[Callable[[Any], None]] = Registry("demo seeder")
