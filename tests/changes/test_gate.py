"""The release gate with frozen time: freeze windows and exceptions, open incidents, approvals."""

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command

from changes import services
from changes.models import GateDecision
from changes.services.gate import gate_evaluate
from governance.choices import Role
from governance.errors import ValidationFailed
from incidents import services as incident_services
from tests.factories import ServiceFactory, person
from tests.incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db
FRIDAY_NOON = dt.datetime(2026, 3, 6, 12, 0, tzinfo=dt.UTC)


def codes(result):
    return [r["code"] for r in result.reasons]


@pytest.fixture
def freeze(service):
    return services.freeze_window_create(
        name="Release freeze",
        reason="Quarter-end close.",
        starts_at=FRIDAY_NOON - dt.timedelta(hours=2),
        ends_at=FRIDAY_NOON + dt.timedelta(hours=6),
        services=[service],
    )


def test_deployment_inside_a_freeze_is_refused_with_the_windows_end(service, freeze):
    with time_machine.travel(FRIDAY_NOON, tick=False):
        result = gate_evaluate(service=service, environment="production", version="1.4.2")
    assert not result.allowed
    assert codes(result) == ["freeze_window"]
    assert result.reasons[0]["ends_at"] == "2026-03-06T18:00:00+00:00"
    assert result.reasons[0]["window"] == "Release freeze"


def test_outside_the_window_the_gate_allows(service, freeze):
    with time_machine.travel(FRIDAY_NOON + dt.timedelta(hours=6, minutes=1), tick=False):
        assert gate_evaluate(service=service, environment="production", version="1.4.2").allowed


def test_a_freeze_for_another_service_does_not_apply(freeze):
    other = ServiceFactory(slug="search")
    with time_machine.travel(FRIDAY_NOON, tick=False):
        assert gate_evaluate(service=other, environment="production", version="1").allowed


def test_an_approved_exception_lets_the_deployment_through(service, freeze, change_manager):
    requester = person("requester", Role.OPS_ADMIN)
    exception = services.freeze_exception_request(
        window=freeze,
        reason="Security fix for CVE-2026-1234.",
        valid_from=FRIDAY_NOON - dt.timedelta(minutes=30),
        valid_until=FRIDAY_NOON + dt.timedelta(hours=1),
        service=service,
        requested_by=requester,
    )
    with time_machine.travel(FRIDAY_NOON, tick=False):
        assert not gate_evaluate(service=service, environment="production", version="1.4.3").allowed
        services.freeze_exception_decide(exception=exception, approve=True, actor=change_manager)
        assert gate_evaluate(service=service, environment="production", version="1.4.3").allowed


def test_nobody_approves_their_own_freeze_exception(service, freeze, change_manager):
    exception = services.freeze_exception_request(
        window=freeze,
        reason="Mine.",
        valid_from=FRIDAY_NOON,
        valid_until=FRIDAY_NOON + dt.timedelta(hours=1),
        requested_by=change_manager,
    )
    with pytest.raises(services.SelfApproval):
        services.freeze_exception_decide(exception=exception, approve=True, actor=change_manager)


def test_a_responder_cannot_approve_a_freeze_exception(service, freeze, change_manager):
    responder = person("responder", Role.RESPONDER)
    exception = services.freeze_exception_request(
        window=freeze, reason="x", valid_from=FRIDAY_NOON, valid_until=FRIDAY_NOON + dt.timedelta(hours=1)
    )
    with pytest.raises(services.SelfApproval):
        services.freeze_exception_decide(exception=exception, approve=True, actor=responder)


def test_open_sev1_refuses_naming_the_incident_and_resolving_it_allows_again(service, commander):
    incident = IncidentFactory(service=service, severity="SEV1", commander=commander)
    result = gate_evaluate(service=service, environment="production", version="2.0")
    assert codes(result) == ["open_incident"]
    assert result.reasons[0]["incident"] == incident.reference
    incident_services.incident_acknowledge(incident=incident, actor=commander)
    incident_services.incident_resolve(incident=incident, actor=commander)
    assert gate_evaluate(service=service, environment="production", version="2.0").allowed


def test_an_open_sev3_does_not_block(service, commander):
    IncidentFactory(service=service, severity="SEV3", commander=commander)
    assert gate_evaluate(service=service, environment="production", version="2.0").allowed


def test_a_normal_change_without_approval_is_refused_and_allowed_once_approved(service, implementer, change_manager):
    change = services.change_create(
        title="Ship 3.0", services=[service], release_tag="3.0", implementer=implementer, created_by=implementer
    )
    services.change_submit(change=change, actor=implementer)
    result = gate_evaluate(service=service, environment="production", version="3.0")
    assert codes(result) == ["not_approved"]
    assert result.reasons[0]["change"] == change.reference
    services.change_approve(change=change, actor=change_manager)
    assert gate_evaluate(service=service, environment="production", version="3.0").allowed


def test_weekly_freeze_in_a_time_zone(service):
    services.freeze_window_create(
        name="Friday evenings",
        reason="Nobody around.",
        recurrence="weekly",
        weekdays=[4],
        start_time=dt.time(18, 0),
        end_time=dt.time(8, 0),  # into Saturday morning
        time_zone="Europe/Berlin",
        services=[service],
    )
    # 2026-03-06 is a Friday; 18:00 Berlin = 17:00 UTC (winter time).
    with time_machine.travel(dt.datetime(2026, 3, 6, 16, 59, tzinfo=dt.UTC), tick=False):
        assert gate_evaluate(service=service, environment="production", version="1").allowed
    with time_machine.travel(dt.datetime(2026, 3, 7, 6, 0, tzinfo=dt.UTC), tick=False):
        result = gate_evaluate(service=service, environment="production", version="1")
    assert codes(result) == ["freeze_window"]
    assert result.reasons[0]["ends_at"] == "2026-03-07T07:00:00+00:00"


def test_cron_freeze_with_duration_and_environment_filter(service):
    services.freeze_window_create(
        name="Nightly batch",
        reason="Batch runs.",
        recurrence="cron",
        cron="0 1 * * *",
        duration_minutes=120,
        environments="production",
        all_services=True,
    )
    with time_machine.travel(dt.datetime(2026, 3, 6, 2, 30, tzinfo=dt.UTC), tick=False):
        assert codes(gate_evaluate(service=service, environment="production", version="1")) == ["freeze_window"]
        assert gate_evaluate(service=service, environment="staging", version="1").allowed
    with time_machine.travel(dt.datetime(2026, 3, 6, 3, 0, tzinfo=dt.UTC), tick=False):
        assert gate_evaluate(service=service, environment="production", version="1").allowed


def test_bad_freeze_definitions_name_the_field(service):
    with pytest.raises(ValidationFailed) as err:
        services.freeze_window_create(name="x", reason="y", recurrence="cron", cron="not cron", services=[service])
    assert {"cron", "duration_minutes"} <= set(err.value.fields)


def test_every_decision_is_recorded(service, commander):
    IncidentFactory(service=service, severity="SEV2", commander=commander)
    gate_evaluate(service=service, environment="production", version="9")
    decision = GateDecision.objects.get()
    assert decision.allowed is False
    assert decision.reasons[0]["code"] == "open_incident"
    assert decision.version == "9"


def test_a_crashing_check_refuses_instead_of_failing(service):
    from governance.registries import GateCheck, gate_checks

    def broken(*args):
        raise RuntimeError("boom")

    gate_checks.register("broken", GateCheck("broken", broken))
    try:
        result = gate_evaluate(service=service, environment="production", version="1")
    finally:
        gate_checks.unregister("broken")
    assert codes(result) == ["check_failed"]


def test_ack_breach_only_where_configured(service, commander, settings):
    from incidents.services import incident_record_ack_breach

    incident = IncidentFactory(service=service, severity="SEV3", commander=commander)
    with time_machine.travel(incident.ack_due_at + dt.timedelta(minutes=1), tick=False):
        incident_record_ack_breach(incident=incident.pk)
    settings.CHANGES_GATE_ACK_BREACH = False
    assert gate_evaluate(service=service, environment="production", version="1").allowed
    settings.CHANGES_GATE_ACK_BREACH = True
    assert codes(gate_evaluate(service=service, environment="production", version="1")) == ["ack_breach"]


def test_release_gate_command_exit_codes(service, commander, capsys):
    call_command("release_gate", "--service", service.slug, "--env", "production", "--version", "1")
    assert "allowed" in capsys.readouterr().out
    incident = IncidentFactory(service=service, severity="SEV1", commander=commander)
    with pytest.raises(SystemExit) as exit_info:
        call_command("release_gate", "--service", service.slug, "--env", "production", "--version", "1")
    assert exit_info.value.code == 3
    out = capsys.readouterr().out
    assert f"open_incident: {incident.reference}" in out
    assert GateDecision.objects.filter(actor_label="command:release_gate").count() == 2


def test_every_check_is_read_in_one_round_trip_and_the_decision_recorded_in_a_second(service, freeze):
    """The pipeline waits on the gate: whatever refuses — freeze, open SEV1, RPO breach, exhausted budget —
    the checks' reads come in one query (the service looked up by slug in it) and the decision is one insert."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from backups.models import BackupTarget, RpoBreach
    from slos.models import SLO

    target = BackupTarget.objects.create(
        slug="orders-db", name="Orders DB", service=service, kind="postgresql", rpo_minutes=60, rto_minutes=60
    )
    RpoBreach.objects.create(target=target, detected_at=FRIDAY_NOON - dt.timedelta(hours=1))
    SLO.objects.create(
        slug="orders-availability",
        name="Orders availability",
        service=service,
        objective="99.9",
        error_budget_remaining=-0.5,
        exhausted_since=FRIDAY_NOON - dt.timedelta(days=1),
    )
    IncidentFactory(service=service, severity="SEV1")
    with CaptureQueriesContext(connection) as captured:
        result = gate_evaluate(service=service.slug, environment="production", version="7.0", now=FRIDAY_NOON)
    expected = {"freeze_window", "open_incident", "rpo_breach", "error_budget_exhausted"}
    assert set(codes(result)) == expected
    (rpo,) = [r for r in result.reasons if r["code"] == "rpo_breach"]
    assert rpo["target"] == "orders-db" and rpo["rpo_minutes"] == 60
    assert rpo["breached_since"] == (FRIDAY_NOON - dt.timedelta(hours=1)).isoformat()
    (budget,) = [r for r in result.reasons if r["code"] == "error_budget_exhausted"]
    assert budget["slo"] == "orders-availability" and budget["error_budget_remaining"] == -0.5
    if connection.vendor == "postgresql":
        assert len(captured) == 2, [q["sql"][:80] for q in captured]
    # Each check asked on its own (no prefetched rows) says the same.
    from governance.registries import gate_checks

    for name in ("rpo_breach", "error_budget_exhausted"):
        alone = gate_checks.get(name).check(service, "production", "7.0", FRIDAY_NOON)
        assert [r.details for r in alone] == [
            {k: v for k, v in r.items() if k not in ("code", "message")} for r in result.reasons if r["code"] == name
        ]


def test_the_gate_names_an_unknown_service(db):
    from changes.services.gate import UnknownService

    with pytest.raises(UnknownService, match="no-such-service"):
        gate_evaluate(service="no-such-service", environment="production", version="1")


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_decision_is_a_prepared_insert_that_keeps_every_field(settings):
    """What a pipeline's call does (autocommit): the read and the insert run as prepared statements."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.DATABASE_PREPARED_STATEMENTS = True
    service = ServiceFactory(slug="ledger")
    IncidentFactory(service=service, severity="SEV2")
    for _ in range(2):  # the second call runs the statements prepared by the first
        with CaptureQueriesContext(connection) as captured:
            result = gate_evaluate(service="ledger", environment="production", version="9.9")
    decision = GateDecision.objects.get(pk=result.decision.pk)
    assert (decision.service_id, decision.environment, decision.version, decision.allowed) == (
        service.pk,
        "production",
        "9.9",
        False,
    )
    assert decision.change_id is None and decision.actor_label == "system"
    assert [r["code"] for r in decision.reasons] == ["open_incident"]
    if connection.vendor == "postgresql":
        assert [q["sql"].startswith("/* prepared */") for q in captured] == [True, True]
        with connection.cursor() as cursor:  # PostgreSQL holds both statements for this connection
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s OR statement LIKE %s",
                ["%gate_service%", "%INSERT INTO changes_gatedecision%"],
            )
            assert cursor.fetchone()[0] == 2


def test_the_open_incident_read_keeps_to_open_incidents_in_a_prepared_plan(service, commander):
    """A prepared statement runs on a generic plan, planned without its parameters. The open statuses are
    literals in the gate's incident read, so that plan can use the partial index of open incidents
    (incident_open_by_service) instead of walking the service's whole history."""
    from django.db import connection

    from changes.selectors import _incidents_sql

    for incident in IncidentFactory.create_batch(3, service=service, severity="SEV1", commander=commander):
        incident_services.incident_acknowledge(incident=incident, actor=commander)
        incident_services.incident_resolve(incident=incident, actor=commander)
    IncidentFactory(service=service, severity="SEV1", commander=commander)
    sql, params = _incidents_sql(service=service, limit=10)
    numbered = sql.split("%s")
    statement = "".join(f"{part}${n}" for n, part in enumerate(numbered[:-1], start=1)) + numbered[-1]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"PREPARE gate_incidents AS {statement}")
        try:
            cursor.execute(f"EXPLAIN EXECUTE gate_incidents({', '.join(['%s'] * len(params))})", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute(f"EXECUTE gate_incidents({', '.join(['%s'] * len(params))})", params)
            found = cursor.fetchall()
        finally:
            cursor.execute("DEALLOCATE gate_incidents")
    assert "incident_open_by_service" in plan, plan
    assert len(found) == 1
