"""What alerting adds to the kernel's registries: a dashboard panel, gauges, a health check, demo data."""

from datetime import timedelta

from django.template.loader import render_to_string
from django.utils import timezone

from governance.choices import CheckStatus
from governance.health import CheckResult
from governance.registries import (
    DashboardPanel,
    EvidenceExporter,
    HealthCheck,
    MetricFamily,
    ScorecardDimension,
    StatusSource,
    dashboard_panels,
    demo_seeders,
    evidence_exporters,
    health_checks,
    metrics,
    notifiers,
    scorecard_dimensions,
    status_sources,
)

STUCK_AFTER = timedelta(minutes=10)
COVERAGE_JOB = "alerting.coverage_check"
# Paging responders and proving each delivery: incident communication (SOC 2 CC7.3, ISO 27001 A.5.24).
EVIDENCE_CONTROLS = ("SOC 2 CC7.3", "ISO 27001 A.5.24")


def check_notifications() -> CheckResult:
    from .choices import NotificationStatus
    from .models import Notification
    from .selectors import outbox_counts

    counts = outbox_counts()
    stuck = Notification.objects.filter(
        status=NotificationStatus.PENDING, next_attempt_at__lt=timezone.now() - STUCK_AFTER
    ).count()
    data = {**counts, "stuck": stuck}
    if counts["dead_letter"]:
        return CheckResult(
            "notifications", CheckStatus.CRITICAL, f"{counts['dead_letter']} notification(s) dead-lettered", data
        )
    if stuck:
        return CheckResult("notifications", CheckStatus.WARNING, f"{stuck} notification(s) pending over 10 min", data)
    return CheckResult("notifications", CheckStatus.OK, f"{counts['pending']} pending, no dead letters", data)


def _dead_letter_samples():
    from .selectors import outbox_counts

    yield {}, outbox_counts()["dead_letter"]


def _pending_samples():
    from .selectors import outbox_counts

    yield {}, outbox_counts()["pending"]


def _coverage_samples():
    from django.db.models import Count

    from .models import CoverageGap

    for row in CoverageGap.objects.values("team__slug").annotate(n=Count("pk")).order_by("team__slug"):
        yield {"team": row["team__slug"]}, row["n"]


def render_panel(request) -> str:
    if not request.user.has_perm("alerting.view_notification"):
        return ""
    from governance.health import unchecked
    from governance.models import Team

    from .models import CoverageGap, OnCallRotation
    from .selectors import on_call_now_by_team, outbox_counts

    team_ids = list(OnCallRotation.objects.filter(enabled=True).values_list("team_id", flat=True).distinct())
    teams = Team.objects.filter(pk__in=team_ids).order_by("name")
    on_call = on_call_now_by_team(team_ids=[t.pk for t in teams])
    return render_to_string(
        "alerting/panel.html",
        {
            "counts": outbox_counts(),
            "on_call": [(team, on_call[team.pk]) for team in teams],
            "gaps": CoverageGap.objects.select_related("team").order_by("starts_at")[:5],
            "coverage_unchecked": unchecked("oncall_coverage", job_name=COVERAGE_JOB),
        },
        request=request,
    )


def status_lines():
    """For ops_status: on-call gaps in the next 14 days."""
    from governance.health import unchecked

    from .models import CoverageGap

    not_current = unchecked("oncall_coverage", job_name=COVERAGE_JOB)
    if not_current:
        yield not_current
        return
    gaps = list(CoverageGap.objects.select_related("team").order_by("starts_at")[:20])
    if gaps:
        teams = sorted({gap.team.name for gap in gaps})
        yield CheckResult(
            "oncall_coverage", CheckStatus.WARNING, f"{len(gaps)} on-call gap(s) in 14 days: {', '.join(teams)}"
        )
    else:
        yield CheckResult(
            "oncall_coverage", CheckStatus.OK, "the last coverage check found no on-call gap in the next 14 days"
        )


def alerting_score() -> dict:
    """The scorecard's alerting dimension, from configuration and the outbox's record."""
    from governance.choices import Severity

    from .models import CoverageGap, OnCallRotation, RoutingRule
    from .selectors import outbox_counts, severity_matches

    facts, steps, score = [], [], 0
    rules = list(RoutingRule.objects.filter(enabled=True).prefetch_related("channels"))
    sev1 = [r for r in rules if severity_matches(r.min_severity, Severity.SEV1) and r.escalation_policy_id]
    if sev1:
        score += 30
        facts.append(f"{len(sev1)} routing rule(s) escalate SEV1 events")
    else:
        steps.append("Add a routing rule that starts an escalation policy for SEV1 events.")
    rotations = OnCallRotation.objects.filter(enabled=True).count()
    if rotations:
        score += 25
        facts.append(f"{rotations} on-call rotation(s)")
    else:
        steps.append("Set up an on-call rotation for each team that owns tier-1 services.")
    from governance.health import unchecked

    gaps = CoverageGap.objects.count()
    coverage_unchecked = unchecked("oncall_coverage", job_name=COVERAGE_JOB)
    if coverage_unchecked:
        steps.append(f"Run the on-call coverage check ({coverage_unchecked.detail}).")
    elif rotations and not gaps:
        score += 25
        facts.append("no on-call gap in the next 14 days")
    elif gaps:
        steps.append(f"Close {gaps} on-call gap(s) (Alerting → Coverage gaps).")
    counts = outbox_counts()
    if not counts["dead_letter"]:
        score += 20
        facts.append(f"no dead letters; {counts['delivered_24h']} notification(s) delivered in 24 h")
    else:
        steps.append(f"Triage {counts['dead_letter']} dead-lettered notification(s).")
    return {"score": score, "facts": facts, "next_steps": steps}


def export_notifications(start, end):
    """Evidence: every notification of the period and how its delivery went."""
    from .models import Notification

    columns = [
        "id",
        "created_at",
        "event_type",
        "severity",
        "subject",
        "destination",
        "status",
        "attempts",
        "delivered_at",
        "last_error",
    ]
    rows = (
        [
            n.pk,
            n.created_at.isoformat(),
            n.event_type,
            n.severity,
            n.subject,
            n.destination,
            n.status,
            n.attempts,
            n.delivered_at.isoformat() if n.delivered_at else "",
            n.last_error,
        ]
        for n in Notification.objects.filter(created_at__gte=start, created_at__lt=end)
        .select_related("channel", "recipient")
        .order_by("created_at", "pk")
        .iterator(chunk_size=1000)
    )
    return columns, rows


def export_delivery_attempts(start, end):
    """Evidence: every delivery attempt made in the period, with its notification and outcome."""
    from .models import DeliveryAttempt

    columns = [
        "id",
        "notification",
        "event_type",
        "destination",
        "number",
        "started_at",
        "duration_ms",
        "status_code",
        "outcome",
        "error",
    ]
    rows = (
        [
            a.pk,
            a.notification_id,
            a.notification.event_type,
            a.notification.destination,
            a.number,
            a.started_at.isoformat(),
            a.duration_ms,
            a.status_code if a.status_code is not None else "",
            a.outcome,
            a.error,
        ]
        for a in DeliveryAttempt.objects.filter(started_at__gte=start, started_at__lt=end)
        .select_related("notification__channel", "notification__recipient")
        .order_by("started_at", "pk")
        .iterator(chunk_size=1000)
    )
    return columns, rows


def notify_kernel_event(*, event_type: str, subject: str, body: str, idempotency_key: str, severity=None) -> None:
    """The kernel's events (audit.chain_broken, ...) go through the outbox and the routing rules."""
    from .services import notify

    notify(event_type, subject=subject, body=body, idempotency_key=idempotency_key, severity=severity)


def seed(stdout) -> None:
    from .demo import seed_alerting

    seed_alerting(stdout)


health_checks.register("notifications", HealthCheck("notifications", check_notifications))
notifiers.register("alerting", notify_kernel_event)
metrics.register(
    "vigil_notifications_dead_letter",
    MetricFamily(
        "vigil_notifications_dead_letter", "Notifications dead-lettered (not delivered).", _dead_letter_samples
    ),
)
metrics.register(
    "vigil_notifications_pending",
    MetricFamily("vigil_notifications_pending", "Notifications waiting for delivery.", _pending_samples),
)
metrics.register(
    "vigil_oncall_coverage_gaps",
    MetricFamily("vigil_oncall_coverage_gaps", "On-call gaps in the next 14 days.", _coverage_samples, ("team",)),
)
dashboard_panels.register(
    "alerting",
    DashboardPanel("alerting", "Paging", render_panel, order=200, permission="alerting.view_notification", shared=True),
)
demo_seeders.register("alerting", seed)
status_sources.register("alerting", StatusSource("alerting", status_lines))
scorecard_dimensions.register("alerting", ScorecardDimension("alerting", "Alerting and on-call", alerting_score))
evidence_exporters.register(
    "alerting_notifications",
    EvidenceExporter("alerting_notifications", export_notifications, controls=EVIDENCE_CONTROLS),
)
evidence_exporters.register(
    "alerting_delivery_attempts",
    EvidenceExporter("alerting_delivery_attempts", export_delivery_attempts, controls=EVIDENCE_CONTROLS),
)
