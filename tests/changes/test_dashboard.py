"""Delivery metrics on the dashboard and /metrics, evidence exporters, the scorecard, ops_status, demo data."""

import datetime as dt
import io

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from changes import services
from changes.dashboard import export_changes, export_deployments, export_gate_decisions, scorecard, status_lines
from changes.demo import seed_changes
from changes.models import Change, FreezeWindow
from changes.selectors import delivery_metrics
from changes.services.gate import gate_evaluate
from governance.choices import Role
from incidents import services as incident_services
from tests.factories import person
from tests.incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(service):
    """Three deployments (one later linked to an incident) and one restored SEV2 this month."""
    commander = person("commander", Role.INCIDENT_COMMANDER)
    now = timezone.now()
    implementer = person("dev", Role.CHANGE_MANAGER)
    approver = person("approver", Role.CHANGE_MANAGER)
    change = services.change_create(
        title="Feature flag rollout", services=[service], implementer=implementer, release_tag="8.0"
    )
    services.change_submit(change=change, now=now - dt.timedelta(hours=10))
    services.change_approve(change=change, actor=approver)
    deployed = services.deployment_record(
        service=service,
        environment="production",
        version="8.0",
        status="succeeded",
        started_at=now - dt.timedelta(hours=6),
        finished_at=now - dt.timedelta(hours=6) + dt.timedelta(minutes=0),
    ).deployment
    for n in range(2):
        services.deployment_record(
            service=service,
            environment="production",
            version=f"8.0.{n + 1}",
            status="succeeded",
            started_at=now - dt.timedelta(hours=4 - n),
            finished_at=now - dt.timedelta(hours=4 - n),
        )
    incident = IncidentFactory(service=service, severity="SEV2", commander=commander)
    incident_services.incident_acknowledge(incident=incident, actor=commander)
    incident_services.incident_resolve(incident=incident, actor=commander)
    services.suspected_cause_link(incident=incident, change=deployed.change, deployment=deployed, actor=commander)
    return {"change": change, "deployed": deployed, "incident": incident}


def test_delivery_metrics_from_the_records(history, service):
    now = timezone.now()
    (row,) = delivery_metrics(by="service", since=now - dt.timedelta(days=30), until=now + dt.timedelta(minutes=1))
    assert row["key"] == service.slug
    assert row["deployments"] == 3
    assert row["change_failure_rate"] == pytest.approx(1 / 3)
    assert row["time_to_restore_seconds"] is not None
    # lead time: the normal change was submitted 10 h before it was deployed; standard ones at deploy time
    assert row["lead_time_seconds"] == pytest.approx((4 * 3600 + 0 + 0) / 3, rel=0.01)
    months = delivery_metrics(by="month", since=now - dt.timedelta(days=62), until=now + dt.timedelta(minutes=1))
    assert months[-1]["deployments"] == 3 and len(months) >= 3


def test_dashboard_panel_shows_delivery_charts(history):
    client = Client()
    client.force_login(person("cm", Role.CHANGE_MANAGER))
    page = client.get(reverse("admin:index")).content.decode()
    assert "Change failure rate (%)" in page
    assert "Deployments per month" in page and "<svg" in page
    assert "33%" in page


def test_prometheus_gauges(api_client_for, history, service, settings):
    settings.METRICS_PUBLIC = False
    body = api_client_for("health:read").get("/metrics").content.decode()
    assert f'vigil_deployments_30d{{service="{service.slug}"}} 3.0' in body
    assert f'vigil_change_failure_rate_ratio{{service="{service.slug}"}} 0.333' in body


def test_evidence_exporters_and_scorecard(history):
    now = timezone.now()
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=1)
    columns, rows = export_changes(start, end)
    assert "reference" in columns and len(rows) == Change.objects.count()
    columns, rows = export_deployments(start, end)
    assert len(rows) == 3
    gate_evaluate(service=history["deployed"].service, environment="production", version="x")
    columns, rows = export_gate_decisions(start, end)
    assert len(rows) == 1
    card = scorecard()
    assert 0 <= card["score"] <= 100 and card["facts"]


def test_ops_status_warns_about_unapproved_emergency_changes(service, settings):
    settings.CHANGES_EMERGENCY_APPROVAL_HOURS = 1
    change = services.change_create(title="Hotfix", services=[service], kind="emergency")
    services.change_submit(change=change, now=timezone.now() - dt.timedelta(hours=2))
    lines = {line.name: line for line in status_lines()}
    assert lines["changes:emergency_approval"].status == "warning"
    assert change.reference in lines["changes:emergency_approval"].detail


def test_demo_seeder_is_idempotent(service):
    out = io.StringIO()
    seed_changes(out)
    count = Change.objects.count()
    seed_changes(out)
    assert count > 0 and Change.objects.count() == count
    assert FreezeWindow.objects.count() == 1
