"""Demo data: rotations for the demo teams, an escalation policy, channels at a local sink, routing rules.

The sink channels point at ALERT_DEMO_SINK_URL (default http://127.0.0.1:9009). They are
enabled only when ALERT_ALLOW_PRIVATE_URLS is on, since a loopback URL is refused otherwise.
"""

import os
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from governance.audit import audit_record, diff
from governance.choices import Severity
from governance.jobs import run_recorded

from .choices import ChannelKind, EventType, StepTarget
from .models import Channel, EscalationPolicy, OnCallRotation, RoutingRule
from .services import (
    channel_create,
    coverage_check,
    escalation_policy_create,
    rotation_create,
    routing_rule_create,
)
from .services.config import masked_snapshot

POLICY = "Page the on-call"


def _sink_channel(name: str, kind: str, path: str, **extra) -> Channel:
    channel = Channel.objects.filter(name=name).first()
    if channel:
        return channel
    base = os.environ.get("ALERT_DEMO_SINK_URL", "http://127.0.0.1:9009").rstrip("/")
    channel = Channel.objects.create(
        name=name, kind=kind, url=f"{base}{path}", enabled=settings.ALERT_ALLOW_PRIVATE_URLS, **extra
    )
    audit_record(action="create", obj=channel, changes=diff({}, masked_snapshot(channel)))
    return channel


def seed_alerting(stdout) -> None:
    from governance.models import Team

    User = get_user_model()
    teams = {t.slug: t for t in Team.objects.filter(slug__in=["platform", "payments"])}
    for _slug, team in teams.items():
        if not OnCallRotation.objects.filter(team=team).exists():
            members = list(team.members.order_by("username"))
            rotation_create(
                team=team,
                name=f"{team.name} weekly",
                members=members,
                shift_length=timedelta(days=7),
                handoff_time="09:00",
                time_zone="Europe/Berlin",
                # Last week's Monday: the first hand-off is always in the past, so every hour from now on has a
                # primary and a secondary whatever the time of day seed_demo runs (09:00 Berlin may be hours away).
                starts_on=timezone.localdate() - timedelta(days=timezone.localdate().weekday() + 7),
            )
    slack = _sink_channel("#incidents (demo sink)", ChannelKind.SLACK_WEBHOOK, "/slack")
    pagerduty = _sink_channel(
        "PagerDuty (demo sink)", ChannelKind.PAGERDUTY_EVENTS_V2, "/pagerduty", routing_key="demo-routing-key-0000"
    )
    webhook = _sink_channel(
        "Audit webhook (demo sink)", ChannelKind.GENERIC_WEBHOOK, "/webhook", signing_secret="demo-signing-secret"
    )
    email = Channel.objects.filter(name="Ops mailing list").first() or channel_create(
        name="Ops mailing list", kind=ChannelKind.EMAIL, addresses="ops@example.com"
    )
    policy = EscalationPolicy.objects.filter(name=POLICY).first()
    if policy is None:
        manager = User.objects.filter(username="noah.fischer").first()
        steps = [
            {"wait_minutes": 0, "target": StepTarget.PRIMARY},
            {"wait_minutes": 5, "target": StepTarget.SECONDARY},
            {"wait_minutes": 10, "target": StepTarget.TEAM_MANAGER},
            {"wait_minutes": 5, "target": StepTarget.CHANNEL, "channel": slack},
        ]
        if manager:
            steps.append({"wait_minutes": 10, "target": StepTarget.USER, "user": manager})
        policy = escalation_policy_create(name=POLICY, steps=steps, repeat=1)
    incident_events = [e for e in EventType.values if e.startswith("incident.")]
    rules = [
        {
            "name": "SEV1 pages the on-call",
            "position": 10,
            "event_types": [
                EventType.INCIDENT_DECLARED,
                EventType.INCIDENT_ACKNOWLEDGED,
                EventType.INCIDENT_ACK_BREACHED,
                EventType.INCIDENT_ESCALATED,
                EventType.INCIDENT_RESOLVED,
            ],
            "min_severity": Severity.SEV1,
            "channels": [slack, pagerduty],
            "escalation_policy": policy,
        },
        {
            "name": "SEV2 escalates when nobody acknowledges",
            "position": 15,
            "event_types": [EventType.INCIDENT_ACK_BREACHED, EventType.INCIDENT_ESCALATED],
            "min_severity": Severity.SEV2,
            "channels": [slack],
            "escalation_policy": policy,
        },
        {"name": "Incidents to Slack", "position": 20, "event_types": incident_events, "channels": [slack]},
        {
            "name": "Backups and drills",
            "position": 30,
            "event_types": [EventType.BACKUP_FAILED, EventType.BACKUP_RPO_BREACHED, EventType.DRILL_FAILED],
            "channels": [slack, email],
            "escalation_policy": policy,
        },
        {
            "name": "Reminders to the ops list",
            "position": 35,
            "event_types": [
                EventType.POSTMORTEM_DUE,
                EventType.ACTION_ITEM_OVERDUE,
                EventType.DRILL_OVERDUE,
                EventType.RUNBOOK_REVIEW_DUE,
                EventType.PROCEDURE_DUE,
                EventType.ACCESS_REVIEW_LAUNCHED,
                EventType.ACCESS_REVIEW_OVERDUE,
                EventType.ACCESS_ORPHANED_GRANT,
            ],
            "channels": [email],
        },
        {
            "name": "Platform health",
            "position": 40,
            "event_types": [EventType.NOTIFICATION_DEAD_LETTER, EventType.JOB_STALE, EventType.AUDIT_CHAIN_BROKEN],
            "channels": [email, webhook],
        },
    ]
    for spec in rules:
        if not RoutingRule.objects.filter(name=spec["name"]).exists():
            routing_rule_create(**spec)
    # The demo's coverage line tells the truth at once, not after beat's first daily run (recorded in the ledger).
    run_recorded("alerting.coverage_check", coverage_check)
    stdout.write(
        f"  demo data: alerting ({OnCallRotation.objects.count()} rotations, {Channel.objects.count()} channels)"
    )
