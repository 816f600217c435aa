"""Delivery metrics on the dashboard and /metrics, ops_status lines, evidence exporters, the scorecard."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from governance.choices import CheckStatus
from governance.console import span
from governance.metrics import once_per_scrape
from incidents.charts import bar_chart

from .choices import ChangeKind, ChangeStatus
from .models import Change, Deployment, GateDecision
from .selectors import delivery_metrics

PERIOD = timedelta(days=30)
MONTHS_CHARTED = 6
TOP_SERVICES = 8


def _hours(seconds):
    return None if seconds is None else round(seconds / 3600, 1)


def _pct(ratio):
    return "—" if ratio is None else f"{ratio * 100:.0f}%"


def _span(seconds):
    return "—" if seconds is None else span(seconds)


def render_panel(request) -> str:
    if not request.user.has_perm("changes.view_change"):
        return ""
    now = timezone.now()
    since_months = (now - timedelta(days=31 * (MONTHS_CHARTED - 1))).replace(day=1, hour=0, minute=0, second=0)
    by_month = delivery_metrics(by="month", since=since_months, until=now)
    by_service = sorted(delivery_metrics(by="service", since=now - PERIOD, until=now), key=lambda r: -r["deployments"])
    labels = [row["key"].strftime("%b") for row in by_month]

    def series(field, convert):
        return [(label, convert(row[field])) for label, row in zip(labels, by_month, strict=True)]

    charts = [
        bar_chart(series("deployments", lambda v: v), title="Deployments per month"),
        bar_chart(series("lead_time_seconds", _hours), title="Lead time (h)", fmt=lambda v: f"{v:g}"),
        bar_chart(
            series("change_failure_rate", lambda v: None if v is None else round(v * 100)),
            title="Change failure rate (%)",
            fmt=lambda v: f"{v:g}%",
        ),
        bar_chart(series("time_to_restore_seconds", _hours), title="Time to restore (h)", fmt=lambda v: f"{v:g}"),
    ]
    awaiting = Change.objects.filter(status=ChangeStatus.SUBMITTED).exclude(kind=ChangeKind.STANDARD).count()
    overdue = (
        Change.objects.filter(kind=ChangeKind.EMERGENCY, approved_at__isnull=True, approval_due_at__lte=now)
        .exclude(status=ChangeStatus.CANCELLED)
        .count()
    )
    refused = GateDecision.objects.filter(asked_at__gte=now - timedelta(days=1), allowed=False).count()
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                row["key"],
                row["deployments"],
                _span(row["lead_time_seconds"]),
                _pct(row["change_failure_rate"]),
                _span(row["time_to_restore_seconds"]),
            )
            for row in by_service[:TOP_SERVICES]
        ),
    )
    return format_html(
        '<div class="vigil-changes-panel"><p><a href="{}">{} change(s) awaiting approval</a> · '
        '<span class="{}">{} emergency change(s) past their approval deadline</span> · {} gate refusal(s) in 24 h · '
        '<a href="{}">change calendar</a></p><div class="vigil-charts">{}</div>'
        '<table class="vigil-table"><caption>Last {} days per service</caption><thead><tr><th>Service</th>'
        "<th>Deployments</th><th>Lead time</th><th>Change failure rate</th><th>Time to restore</th></tr></thead>"
        "<tbody>{}</tbody></table></div>",
        reverse("admin:changes_change_changelist") + "?status__exact=submitted",
        awaiting,
        "vigil-bad" if overdue else "",
        overdue,
        refused,
        reverse("admin:changes_change_calendar"),
        format_html_join("", "{}", ((chart,) for chart in charts)),
        PERIOD.days,
        rows,
    )


# --- Prometheus --------------------------------------------------------------------------------


def _per_service(field):
    def collect():
        now = timezone.now()
        rows = once_per_scrape(
            "changes:delivery_by_service", lambda: delivery_metrics(by="service", since=now - PERIOD, until=now)
        )
        for row in rows:
            if row[field] is not None:
                yield {"service": row["key"]}, row[field]

    return collect


GAUGES = [
    ("vigil_deployments_30d", "Deployments in the last 30 days, per service.", "deployments"),
    (
        "vigil_change_lead_time_seconds",
        "Mean lead time (change submitted → deployed), last 30 days.",
        "lead_time_seconds",
    ),
    (
        "vigil_change_failure_rate_ratio",
        "Share of deployments linked to an incident as suspected cause, last 30 days.",
        "change_failure_rate",
    ),
    (
        "vigil_time_to_restore_seconds",
        "Mean time to restore (incident declared → resolved), last 30 days.",
        "time_to_restore_seconds",
    ),
]


def register_metrics() -> None:
    from governance.registries import MetricFamily, metrics

    for name, documentation, field in GAUGES:
        metrics.register(name, MetricFamily(name, documentation, _per_service(field), labels=("service",)))


# --- ops_status ----------------------------------------------------------------------------------


def status_lines():
    from governance.health import CheckResult

    now = timezone.now()
    overdue = list(
        Change.objects.filter(kind=ChangeKind.EMERGENCY, approved_at__isnull=True, approval_due_at__lte=now)
        .exclude(status=ChangeStatus.CANCELLED)
        .order_by("approval_due_at")[:20]
    )
    if overdue:
        refs = ", ".join(c.reference for c in overdue)
        yield CheckResult("changes:emergency_approval", CheckStatus.WARNING, f"{len(overdue)} unapproved: {refs}")
    else:
        yield CheckResult(
            "changes:emergency_approval", CheckStatus.OK, "no emergency change past its approval deadline"
        )
    suspects = Deployment.objects.filter(suspect_flagged_at__gte=now - timedelta(days=1)).count()
    yield CheckResult(
        "changes:suspect_deployments",
        CheckStatus.WARNING if suspects else CheckStatus.OK,
        f"{suspects} deployment(s) flagged suspect in the last 24 h",
    )


# --- evidence ------------------------------------------------------------------------------------


def _iso(value):
    return value.isoformat() if value else ""


def export_changes(start, end):
    columns = [
        "reference",
        "title",
        "kind",
        "risk",
        "status",
        "services",
        "implementer",
        "approved_by",
        "submitted_at",
        "approved_at",
        "approval_due_at",
        "planned_start",
        "planned_end",
        "actual_start",
        "actual_end",
        "release_tag",
        "pull_request_url",
        "migration_hash",
    ]
    rows = []
    qs = (
        Change.objects.filter(created_at__gte=start, created_at__lt=end)
        .select_related("implementer", "approved_by")
        .prefetch_related("services")
        .order_by("pk")
    )
    for c in qs:
        rows.append(
            [
                c.reference,
                c.title,
                c.kind,
                c.risk,
                c.status,
                " ".join(sorted(s.slug for s in c.services.all())),
                c.implementer.get_username() if c.implementer else "",
                c.approved_by.get_username() if c.approved_by else "",
                _iso(c.submitted_at),
                _iso(c.approved_at),
                _iso(c.approval_due_at),
                _iso(c.planned_start),
                _iso(c.planned_end),
                _iso(c.actual_start),
                _iso(c.actual_end),
                c.release_tag,
                c.pull_request_url,
                c.migration_hash,
            ]
        )
    return columns, rows


def export_deployments(start, end):
    columns = [
        "id",
        "change",
        "service",
        "environment",
        "version",
        "status",
        "started_at",
        "finished_at",
        "in_freeze",
        "suspect_incident",
        "pipeline_url",
        "reported_by",
    ]
    qs = (
        Deployment.objects.filter(started_at__gte=start, started_at__lt=end)
        .select_related("service", "suspect_incident")
        .order_by("pk")
    )
    rows = [
        [
            d.pk,
            f"CHG-{d.change_id}",
            d.service.slug,
            d.environment,
            d.version,
            d.status,
            _iso(d.started_at),
            _iso(d.finished_at),
            d.in_freeze,
            d.suspect_incident.reference if d.suspect_incident else "",
            d.pipeline_url,
            d.reported_by,
        ]
        for d in qs
    ]
    return columns, rows


def export_gate_decisions(start, end):
    import json

    columns = ["id", "asked_at", "service", "environment", "version", "allowed", "reasons", "actor"]
    qs = GateDecision.objects.filter(asked_at__gte=start, asked_at__lt=end).select_related("service").order_by("pk")
    rows = [
        [
            g.pk,
            _iso(g.asked_at),
            g.service.slug,
            g.environment,
            g.version,
            g.allowed,
            json.dumps([r.get("code") for r in g.reasons]),
            g.actor_label,
        ]
        for g in qs
    ]
    return columns, rows


# --- scorecard ------------------------------------------------------------------------------------


def scorecard() -> dict:
    """Change management: deployments recorded, gate in use, approvals on time, failures linked."""
    now = timezone.now()
    since = now - timedelta(days=90)
    deployments = Deployment.objects.filter(started_at__gte=since).count()
    gate_calls = GateDecision.objects.filter(asked_at__gte=since).count()
    emergency = Change.objects.filter(kind=ChangeKind.EMERGENCY, created_at__gte=since)
    emergency_total = emergency.count()
    emergency_late = emergency.filter(approval_reminded_at__isnull=False).count()
    suspects = Deployment.objects.filter(started_at__gte=since, suspect_incident__isnull=False).count()
    linked = Deployment.objects.filter(started_at__gte=since, suspected_causes__isnull=False).distinct().count()
    parts = [
        100 if deployments else 0,
        100 if gate_calls else 0,
        100 if not emergency_total else round(100 * (emergency_total - emergency_late) / emergency_total),
        100 if not suspects else min(100, round(100 * linked / suspects)),
    ]
    facts = [
        f"{deployments} deployment(s) recorded in 90 days",
        f"{gate_calls} release-gate decision(s) in 90 days",
        f"{emergency_total - emergency_late} of {emergency_total} emergency change(s) approved on time",
        f"{suspects} suspect deployment(s), {linked} linked to an incident after review",
    ]
    next_steps = []
    if not deployments:
        next_steps.append("Make CI/CD report deployments: POST /api/v1/changes/deployments/")
    if not gate_calls:
        next_steps.append(
            "Call the release gate before deploying: POST /api/v1/changes/gate/ or manage.py release_gate"
        )
    if emergency_late:
        next_steps.append("Approve emergency changes within their deadline")
    if suspects > linked:
        next_steps.append("Review suspect deployments on their incidents' pages (What changed?)")
    return {"score": round(sum(parts) / len(parts)), "facts": facts, "next_steps": next_steps}
