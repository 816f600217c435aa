"""Reads: runbooks matching an incident, review due dates, the coverage report."""

from datetime import datetime, timedelta

from django.utils import timezone

from governance.choices import ServiceTier, Severity
from governance.models import Service

from .choices import OPEN_EXECUTION_STATUSES, ExecutionPurpose, RunbookStatus
from .models import Runbook, RunbookExecution


def published_runbooks():
    return Runbook.objects.filter(status=RunbookStatus.PUBLISHED, current_version__isnull=False)


def runbooks_for_incident(incident) -> list[Runbook]:
    """Published runbooks that fit the incident: for its service, with its severity among theirs
    (or naming none); for every service (no service), with its severity among theirs; and any
    naming one of the incident's alerts."""
    alert_names = sorted({name for name in incident.alerts.values_list("alertname", flat=True) if name})
    matched = []
    for runbook in published_runbooks().select_related("current_version").order_by("title", "pk"):
        if runbook.service_id is None:
            by_service = incident.severity in runbook.severities
        else:
            by_service = runbook.service_id == incident.service_id and (
                not runbook.severities or incident.severity in runbook.severities
            )
        by_alert = bool(set(runbook.alert_names) & set(alert_names))
        if by_service or by_alert:
            matched.append(runbook)
    return matched


def runbooks_review_due(*, now: datetime | None = None, within: timedelta = timedelta(0)) -> list[tuple]:
    """(runbook, due_at) for published runbooks whose review falls due before now + within."""
    now = now or timezone.now()
    rows = []
    for runbook in published_runbooks().select_related("service", "owner_team", "owner_team__manager"):
        due = runbook.review_due_at
        if due is not None and due <= now + within:
            rows.append((runbook, due))
    return sorted(rows, key=lambda pair: (pair[1], pair[0].pk))


def overdue_review_ids(*, now: datetime | None = None) -> set[int]:
    return {runbook.pk for runbook, _ in runbooks_review_due(now=now)}


def open_procedures(*, overdue: bool | None = None):
    rows = RunbookExecution.objects.filter(purpose=ExecutionPurpose.PROCEDURE, status__in=OPEN_EXECUTION_STATUSES)
    if overdue is True:
        rows = rows.filter(overdue_at__isnull=False)
    elif overdue is False:
        rows = rows.filter(overdue_at__isnull=True)
    return rows


def sev1_alert_names() -> list[str]:
    """Alert names that have opened or joined SEV1 incidents: the alerts that page at 3 a.m."""
    from incidents.models import Alert

    names = (
        Alert.objects.filter(incident__severity=Severity.SEV1)
        .exclude(alertname="")
        .values_list("alertname", flat=True)
        .distinct()
    )
    return sorted(set(names))


def coverage(*, now: datetime | None = None) -> dict:
    """The coverage report: tier-1 services and SEV1 alert names with no published runbook, and
    runbooks overdue for review."""
    now = now or timezone.now()
    published = list(published_runbooks().values("service_id", "alert_names"))
    covered_services = {row["service_id"] for row in published}
    covered_alerts = {name for row in published for name in row["alert_names"]}
    tier1 = list(Service.objects.filter(tier=ServiceTier.TIER_1).order_by("slug"))
    alert_names = sev1_alert_names()
    overdue = runbooks_review_due(now=now)
    return {
        "tier1_services": tier1,
        "services_without_runbook": [s for s in tier1 if s.pk not in covered_services],
        "sev1_alert_names": alert_names,
        "alerts_without_runbook": [name for name in alert_names if name not in covered_alerts],
        "overdue_reviews": overdue,
        "published_count": len(published),
    }


def completeness_score(*, now: datetime | None = None) -> dict:
    """The "runbook completeness" scorecard dimension: coverage of tier-1 services and SEV1
    alerts by published runbooks, and reviews kept up to date."""
    report = coverage(now=now)
    tier1, missing = len(report["tier1_services"]), len(report["services_without_runbook"])
    alerts, uncovered = len(report["sev1_alert_names"]), len(report["alerts_without_runbook"])
    published, overdue = report["published_count"], len(report["overdue_reviews"])
    parts = [
        (tier1 - missing) / tier1 if tier1 else 1.0,
        (alerts - uncovered) / alerts if alerts else 1.0,
        (published - overdue) / published if published else 0.0,
    ]
    score = round(100 * sum(parts) / len(parts))
    facts = [
        f"{tier1 - missing} of {tier1} tier-1 service(s) have a published runbook",
        f"{alerts - uncovered} of {alerts} SEV1 alert name(s) have a published runbook",
        f"{published} published runbook(s), {overdue} overdue for review",
    ]
    next_steps = []
    if missing:
        names = ", ".join(s.slug for s in report["services_without_runbook"][:5])
        next_steps.append(f"Write and publish runbooks for tier-1 services: {names}")
    if uncovered:
        next_steps.append(f"Map SEV1 alerts to runbooks: {', '.join(report['alerts_without_runbook'][:5])}")
    if overdue:
        names = ", ".join(r.slug for r, _ in report["overdue_reviews"][:5])
        next_steps.append(f"Review overdue runbooks: {names}")
    if not published:
        next_steps.append("Load the starter runbooks: manage.py load_starter_runbooks")
    return {"score": score, "facts": facts, "next_steps": next_steps}
