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


# --- roll-ups: the dashboard's numbers come from IncidentDailyStat, kept by triggers ---------------


def _rollup_rows():
    from incidents.models import IncidentDailyStat

    return sorted(
        (
            row.day,
            row.severity,
            row.service_id,
            row.incidents,
            row.open_count,
            row.tta_count,
            round(row.tta_seconds, 3),
            row.ttr_count,
            round(row.ttr_seconds, 3),
            row.decided,
            row.met,
            row.breached,
        )
        for row in IncidentDailyStat.objects.all()
        if row.incidents
    )


def test_triggers_keep_the_rollups_equal_to_a_recount(history, commander, service):
    from governance.models import Service
    from incidents.rollups import rollups_rebuild

    other = Service.objects.create(slug="billing", name="Billing", tier=2)
    moved = IncidentFactory(severity="SEV3", service=service, commander=commander)
    services.incident_change_severity(incident=moved, severity="SEV2", reason="worse", actor=commander)
    Incident.objects.filter(pk=moved.pk).update(service=other)  # a raw write is counted too
    services.incident_acknowledge(incident=moved, actor=commander)
    IncidentFactory(severity="SEV1", service=other, commander=commander).delete()
    kept = _rollup_rows()
    assert rollups_rebuild() > 0
    assert _rollup_rows() == kept
    by_severity = {row["key"]: row for row in incident_metrics(by="severity")}
    assert by_severity["SEV2"]["incidents"] == 1
    assert by_severity["SEV2"]["open"] == 1
    assert "SEV3" not in by_severity  # moved out of its first bucket


def test_metrics_read_a_bounded_number_of_rows_however_long_the_history(commander, service):
    """The same queries for 3 and for 60 incidents spread over years: the period is what is read."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from incidents.dashboard import GAUGES

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            incident_metrics(by="severity", since=dt.datetime.now(tz=dt.UTC) - dt.timedelta(days=90))
            incident_metrics(by="month")
            postmortem_on_time()
            for _name, _doc, collect in GAUGES:
                list(collect())
        return len(ctx.captured_queries)

    IncidentFactory.create_batch(3, service=service, commander=commander)
    small = queries()
    for years_ago in range(1, 20):
        with time_machine.travel(dt.datetime.now(tz=dt.UTC) - dt.timedelta(days=365 * years_ago)):
            IncidentFactory.create_batch(3, service=service, commander=commander)
    assert queries() == small


def test_gauges_that_share_a_query_ask_the_database_once_per_scrape(db):
    """MTTA, MTTR and ack-SLA compliance are columns of one roll-up query (so are the four delivery gauges):
    one scrape runs each once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.metrics import DomainCollector

    def rollup_queries(run) -> int:
        with CaptureQueriesContext(connection) as captured:
            run()
        return sum('FROM "incidents_incidentdailystat"' in q["sql"] for q in captured.captured_queries)

    from governance.registries import metrics

    gauges = ["vigil_incident_mtta_seconds", "vigil_incident_mttr_seconds", "vigil_incident_ack_sla_compliance_ratio"]
    assert rollup_queries(lambda: [list(metrics.get(name).collect()) for name in gauges]) == 3
    every_gauge_alone = rollup_queries(lambda: [list(family.collect()) for family in metrics])
    # In a scrape, incidents' three gauges share one query and changes' four delivery gauges another.
    assert rollup_queries(lambda: list(DomainCollector().collect())) == every_gauge_alone - 2 - 3
