"""The incidents panel of the admin dashboard, the Prometheus gauges and the ops_status lines."""

from datetime import timedelta

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from governance.choices import CheckStatus, Severity
from governance.console import due_clock, span
from governance.metrics import once_per_scrape

from .charts import bar_chart
from .choices import OPEN_STATUSES, IncidentStatus
from .models import Incident
from .selectors import (
    METRICS_PERIOD,
    action_item_counts,
    breached_open_incidents,
    incident_metrics,
    open_incident_counts,
    postmortem_on_time,
)

PERIOD = METRICS_PERIOD
MONTHS_CHARTED = 6
TOP_SERVICES = 8


def _minutes(seconds):
    return None if seconds is None else round(seconds / 60, 1)


def _pct(ratio):
    return None if ratio is None else f"{ratio * 100:.0f}%"


def _span(seconds):
    return "—" if seconds is None else span(seconds)


def _rows(rows):
    return [
        {
            **row,
            "mtta": _span(row["mtta_seconds"]),
            "mttr": _span(row["mttr_seconds"]),
            "sla": _pct(row["ack_sla_compliance"]) or "—",
        }
        for row in rows
    ]


OPEN_SHOWN = 15


def _deadline(incident) -> tuple:
    """The clock that matters now: the acknowledgement while declared, then the next update."""
    if incident.status == IncidentStatus.DECLARED:
        return incident.ack_due_at, "ack"
    return incident.next_update_due_at, "update"


def render_open_incidents_panel(request) -> str:
    """Open incidents by severity with their live clocks, late ones in red; two queries."""
    if not request.user.has_perm("incidents.view_incident"):
        return ""
    now = timezone.now()
    open_counts = open_incident_counts()
    incidents = (
        Incident.objects.filter(status__in=OPEN_STATUSES)
        .select_related("service", "commander")
        .order_by("severity", "declared_at", "id")[:OPEN_SHOWN]
    )
    rows = []
    for incident in incidents:
        due_at, label = _deadline(incident)
        clock, late = due_clock(label, due_at, now) if due_at is not None else ("", False)
        rows.append({"incident": incident, "due_at": due_at, "label": label, "late": late, "clock": clock})
    context = {
        "open": [
            {
                "severity": severity,
                "open": open_counts.get(severity, {}).get("open", 0),
                "breached": open_counts.get(severity, {}).get("breached", 0),
            }
            for severity in Severity.values
        ],
        "rows": rows,
        "more": sum(row["open"] for row in open_counts.values()) - len(rows),
        "changelist": reverse("admin:incidents_incident_changelist"),
    }
    return render_to_string("incidents/panels/open_incidents.html", context, request=request)


def render_incidents_panel(request) -> str:
    if not request.user.has_perm("incidents.view_incident"):
        return ""
    now = timezone.now()
    since = now - PERIOD
    by_month = incident_metrics(by="month", since=(now - timedelta(days=31 * MONTHS_CHARTED)).replace(day=1))
    by_service = sorted(incident_metrics(by="service", since=since), key=lambda r: -r["incidents"])[:TOP_SERVICES]
    labels = [row["key"].strftime("%b") if row["key"] else "?" for row in by_month]
    charts = [
        bar_chart(
            [(label, row["incidents"]) for label, row in zip(labels, by_month, strict=True)],
            title="Incidents per month",
        ),
        bar_chart(
            [(label, _minutes(row["mtta_seconds"])) for label, row in zip(labels, by_month, strict=True)],
            title="MTTA per month (min)",
            fmt=lambda v: f"{v:g}",
        ),
        bar_chart(
            [(label, _minutes(row["mttr_seconds"])) for label, row in zip(labels, by_month, strict=True)],
            title="MTTR per month (min)",
            fmt=lambda v: f"{v:g}",
        ),
        bar_chart(
            [
                (label, None if row["ack_sla_compliance"] is None else round(row["ack_sla_compliance"] * 100))
                for label, row in zip(labels, by_month, strict=True)
            ],
            title="Ack-SLA compliance (%)",
            fmt=lambda v: f"{v:g}%",
        ),
    ]
    postmortems = postmortem_on_time(now=now)
    context = {
        "by_severity": _rows(incident_metrics(by="severity", since=since)),
        "by_service": _rows(by_service),
        "by_month": _rows(by_month),
        "charts": charts,
        "postmortems": postmortems,
        "postmortem_rate": _pct(postmortems["rate"]) or "—",
        "action_items": action_item_counts(today=now.date()),
        "changelist": reverse("admin:incidents_incident_changelist"),
        "period_days": PERIOD.days,
    }
    return render_to_string("incidents/panels/incidents.html", context, request=request)


# --- Prometheus --------------------------------------------------------------------------


def open_incidents_samples():
    counts = open_incident_counts()
    for severity in Severity.values:
        yield {"severity": severity}, counts.get(severity, {}).get("open", 0)


def ack_breaches_samples():
    counts = open_incident_counts()
    for severity in Severity.values:
        yield {"severity": severity}, counts.get(severity, {}).get("breached", 0)


def _period_metric(field: str):
    def collect():
        since = timezone.now() - PERIOD
        rows = once_per_scrape("incidents:metrics_by_severity", lambda: incident_metrics(by="severity", since=since))
        for row in rows:
            if row[field] is not None:
                yield {"severity": row["key"]}, row[field]

    return collect


def postmortem_on_time_samples():
    rate = postmortem_on_time()["rate"]
    if rate is not None:
        yield {}, rate


def action_items_samples():
    counts = action_item_counts()
    yield {"state": "open"}, counts["open"]
    yield {"state": "overdue"}, counts["overdue"]


GAUGES = [
    ("vigil_incidents_open", "Open incidents (declared, acknowledged, mitigated) by severity.", open_incidents_samples),
    ("vigil_incident_ack_breaches_open", "Open incidents whose ack deadline was breached.", ack_breaches_samples),
    ("vigil_incident_mtta_seconds", "Mean time to acknowledge, last 90 days.", _period_metric("mtta_seconds")),
    ("vigil_incident_mttr_seconds", "Mean time to resolve, last 90 days.", _period_metric("mttr_seconds")),
    (
        "vigil_incident_ack_sla_compliance_ratio",
        "Share of incidents acknowledged within their deadline, last 90 days.",
        _period_metric("ack_sla_compliance"),
    ),
]


def status_lines():
    """ops_status: open ack breaches are critical; overdue postmortems and action items warn."""
    from governance.health import CheckResult

    breached = list(breached_open_incidents()[:20])
    if breached:
        refs = ", ".join(incident.reference for incident in breached)
        yield CheckResult("incidents:ack_breaches", CheckStatus.CRITICAL, f"{len(breached)} open breach(es): {refs}")
    else:
        yield CheckResult("incidents:ack_breaches", CheckStatus.OK, "no open acknowledgement breaches")
    overdue_postmortems = postmortem_on_time()["overdue"]
    items = action_item_counts()
    status = CheckStatus.WARNING if overdue_postmortems or items["overdue"] else CheckStatus.OK
    yield CheckResult(
        "incidents:follow_up",
        status,
        f"{overdue_postmortems} overdue postmortem(s), {items['overdue']} overdue action item(s)",
        {"postmortems_overdue": overdue_postmortems, "action_items_overdue": items["overdue"]},
    )


# --- scorecard -----------------------------------------------------------------------------


def incident_response_score() -> dict:
    """Ack-SLA compliance, postmortems on time and action items closed, over the dashboard's period."""
    since = timezone.now() - PERIOD
    rows = incident_metrics(by="severity", since=since)
    decided = [r for r in rows if r["ack_sla_compliance"] is not None]
    facts, steps, score = [], [], 0
    if decided:
        total = sum(r["incidents"] for r in decided)
        compliance = sum(r["ack_sla_compliance"] * r["incidents"] for r in decided) / total
        score += round(40 * compliance)
        facts.append(f"ack-SLA compliance {compliance * 100:.0f}% over {total} incident(s) in {PERIOD.days} days")
        if compliance < 0.95:
            steps.append("Acknowledge within the policy: check the on-call rotations and escalation steps.")
    else:
        score += 40
        facts.append(f"no incident needed acknowledging in {PERIOD.days} days")
    postmortems = postmortem_on_time()
    if postmortems["rate"] is None:
        score += 30
        facts.append("no postmortem was due")
    else:
        score += round(30 * postmortems["rate"])
        facts.append(f"postmortems on time: {_pct(postmortems['rate'])}; {postmortems['overdue']} overdue")
        if postmortems["overdue"]:
            steps.append(f"Publish the {postmortems['overdue']} overdue postmortem(s).")
    items = action_item_counts()
    if items["overdue"]:
        score += round(30 * (1 - items["overdue"] / max(items["open"], 1)))
        steps.append(f"Close or re-plan {items['overdue']} overdue action item(s).")
    else:
        score += 30
    facts.append(f"{items['open']} open action item(s), {items['overdue']} overdue")
    return {"score": score, "facts": facts, "next_steps": steps}
