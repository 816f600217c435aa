"""MTTA, MTTR, SLA compliance and follow-up counts: selectors, gauges, ops_status, demo data."""

import datetime as dt
import io

import pytest
import time_machine

from governance.choices import CheckStatus
from governance.health import run_status_sources
from incidents import services, tasks
from incidents.demo import seed_incidents
from incidents.models import Incident
from incidents.selectors import action_item_counts, incident_metrics, postmortem_on_time

from .conftest import publish_postmortem
from .factories import ActionItemFactory, IncidentFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 3, 3, 3, 0, tzinfo=dt.UTC)


def walk(incident, actor, *, ack_after, resolve_after):
    with time_machine.travel(incident.declared_at + ack_after, tick=False):
        services.incident_acknowledge(incident=incident, actor=actor)
    with time_machine.travel(incident.declared_at + resolve_after, tick=False):
        services.incident_resolve(incident=incident, actor=actor)


@pytest.fixture
def history(commander, service):
    with time_machine.travel(T0, tick=False):
        fast = IncidentFactory(severity="SEV1", service=service, commander=commander)
        slow = IncidentFactory(severity="SEV1", service=service, commander=commander)
    walk(fast, commander, ack_after=dt.timedelta(minutes=2), resolve_after=dt.timedelta(minutes=60))
    with time_machine.travel(T0 + dt.timedelta(minutes=7), tick=False):
        tasks.ack_sweeper()  # `slow` breaches at minute 5
    walk(slow, commander, ack_after=dt.timedelta(minutes=8), resolve_after=dt.timedelta(minutes=120))
    return fast, slow


def test_mtta_mttr_and_sla_compliance_per_severity(history):
    (row,) = incident_metrics(by="severity")
    assert row["key"] == "SEV1"
    assert row["mtta_seconds"] == 5 * 60  # (2 + 8) / 2 minutes
    assert row["mttr_seconds"] == 90 * 60
    assert row["ack_sla_compliance"] == 0.5
    assert row["breached"] == 1


def test_metrics_per_service_and_month(history, service):
    (by_service,) = incident_metrics(by="service")
    assert by_service["key"] == service.slug
    (by_month,) = incident_metrics(by="month")
    assert by_month["key"].month == 3
    assert by_month["incidents"] == 2


def test_postmortem_on_time_rate(history, commander, settings):
    settings.HOLIDAY_COUNTRY = None
    fast, slow = history
    publish_postmortem(fast, commander)  # published now: long after the March due date
    with time_machine.travel(T0 + dt.timedelta(days=2), tick=False):
        publish_postmortem(slow, commander)
    result = postmortem_on_time(now=T0 + dt.timedelta(days=30))
    assert (result["counted"], result["on_time"]) == (2, 1)
    assert result["rate"] == 0.5


def test_open_and_overdue_action_items(commander):
    today = dt.date(2026, 3, 3)
    ActionItemFactory(owner=commander, due_date=today - dt.timedelta(days=1))
    ActionItemFactory(owner=commander, due_date=today + dt.timedelta(days=1))
    assert action_item_counts(today=today) == {"open": 2, "overdue": 1}


def test_prometheus_gauges(api_client_for, history, commander, service):
    IncidentFactory(severity="SEV2", service=service, commander=commander)
    response = api_client_for("health:read").get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'vigil_incidents_open{severity="SEV2"} 1.0' in text
    assert 'vigil_incidents_open{severity="SEV1"} 0.0' in text
    assert "vigil_incident_ack_breaches_open" in text
    assert "vigil_incident_mtta_seconds" in text
    assert "vigil_action_items" in text


def test_ops_status_reports_open_breaches(commander, service):
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) - dt.timedelta(minutes=10)):
        incident = IncidentFactory(severity="SEV1", service=service, commander=commander)
    tasks.ack_sweeper()
    lines = {result.name: result for result in run_status_sources()}
    assert lines["incidents:ack_breaches"].status == CheckStatus.CRITICAL
    assert incident.reference in lines["incidents:ack_breaches"].detail


def test_demo_seeder_is_idempotent(commander, service):
    out = io.StringIO()
    seed_incidents(out)
    count = Incident.objects.count()
    seed_incidents(out)
    assert count == 5
    assert Incident.objects.count() == count
