"""The changes API: deployments, the gate, change approval; the error format; the role matrix; the schema."""

import datetime as dt
import json

import pytest
import time_machine
from rest_framework.test import APIClient

from changes import services
from changes.models import Change, Deployment, GateDecision
from governance.choices import Role
from tests.factories import UserFactory, person
from tests.incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db
DEPLOYMENTS = "/api/v1/changes/deployments/"
GATE = "/api/v1/changes/gate/"
T0 = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def pipeline(api_client_for):
    return api_client_for("changes:write", "changes:gate")


def deployment_body(svc, **extra):
    return {
        "service": svc.slug,
        "environment": "production",
        "version": "v2.3.1",
        "status": "succeeded",
        "started_at": "2026-03-04T10:00:00Z",
        "finished_at": "2026-03-04T10:04:00Z",
        "pipeline_url": "https://ci.example.com/runs/881",
        **extra,
    }


def test_deployment_creates_a_standard_change_and_reports_it_again_as_200(pipeline, service):
    response = pipeline.post(DEPLOYMENTS, deployment_body(service), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["change"]["reference"].startswith("CHG-")
    assert body["change"]["kind"] == "standard"
    assert body["change"]["status"] == "completed"
    assert body["started_at"] == "2026-03-04T10:00:00Z"
    again = pipeline.post(DEPLOYMENTS, deployment_body(service), format="json")
    assert again.status_code == 200
    assert Deployment.objects.count() == 1


def test_deployment_attaches_to_the_named_change(pipeline, service, implementer, change_manager):
    change = services.change_create(title="Ship", services=[service], implementer=implementer, created_by=implementer)
    services.change_submit(change=change)
    services.change_approve(change=change, actor=change_manager)
    response = pipeline.post(DEPLOYMENTS, deployment_body(service, change=change.reference), format="json")
    assert response.status_code == 201
    assert response.json()["change"]["reference"] == change.reference


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"service": "no-such-service"}, "service"),
        ({"status": "exploded"}, "status"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"finished_at": "2026-03-04T09:00:00Z"}, "finished_at"),
        ({"change": "CHG-999999"}, "change"),
        ({"change": "banana"}, "change"),
        ({"pipeline_url": "not a url"}, "pipeline_url"),
        ({"version": ""}, "version"),
        ({"watch_minutes": 0}, "watch_minutes"),
    ],
)
def test_bad_deployment_input_is_a_400_naming_the_field(pipeline, service, extra, field):
    response = pipeline.post(DEPLOYMENTS, deployment_body(service, **extra), format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "validation_error"
    assert field in body["error"]["fields"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"environment": "production", "version": "1"}, "service"),
        ({"service": "nope", "environment": "production", "version": "1"}, "service"),
        ({"service": "checkout-api", "version": "1"}, "environment"),
        ({"service": "checkout-api", "environment": "production", "version": "1", "change": "CHG-x"}, "change"),
    ],
)
def test_bad_gate_input_is_a_400_naming_the_field(pipeline, service, payload, field):
    response = pipeline.post(GATE, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_gate_input_that_is_not_json_is_not_a_500(pipeline, service):
    response = pipeline.post(GATE, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    response = pipeline.post(GATE, json.dumps([1, 2]), content_type="application/json")
    assert response.status_code == 400


def test_gate_allows_with_200(pipeline, service):
    response = pipeline.post(
        GATE, {"service": service.slug, "environment": "production", "version": "1"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["allowed"] is True
    assert {"freeze_window", "open_incident", "not_approved"} <= set(body["checks"])


def test_gate_refuses_with_409_in_the_error_format(pipeline, service):
    services.freeze_window_create(
        name="Freeze",
        reason="Audit week.",
        starts_at=T0 - dt.timedelta(hours=1),
        ends_at=T0 + dt.timedelta(hours=5),
        services=[service],
    )
    commander = person("commander", Role.INCIDENT_COMMANDER)
    with time_machine.travel(T0, tick=False):
        incident = IncidentFactory(service=service, severity="SEV1", commander=commander)
        response = pipeline.post(
            GATE, {"service": service.slug, "environment": "production", "version": "1"}, format="json"
        )
    assert response.status_code == 409
    body = response.json()
    assert body["allowed"] is False
    assert body["error"]["code"] == "gate_refused"
    reasons = {r["code"]: r for r in body["reasons"]}
    assert reasons["freeze_window"]["ends_at"] == "2026-03-04T15:00:00+00:00"
    assert reasons["open_incident"]["incident"] == incident.reference
    decision = GateDecision.objects.get()
    assert decision.actor_label == "api-key:test key" and decision.actor_api_key_id == pipeline.api_key.pk


def test_keys_without_the_scope_are_refused(api_client_for, service):
    reader = api_client_for("incidents:read")
    assert (
        reader.post(GATE, {"service": service.slug, "environment": "p", "version": "1"}, format="json").status_code
        == 403
    )
    gate_only = api_client_for("changes:gate")
    assert gate_only.post(DEPLOYMENTS, deployment_body(service), format="json").status_code == 403
    write_only = api_client_for("changes:write")
    refused = write_only.post(GATE, {"service": service.slug, "environment": "p", "version": "1"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert APIClient().post(GATE, {}, format="json").status_code == 401


@pytest.mark.parametrize(
    ("role", "gate_status", "deploy_status"),
    [
        (Role.CHANGE_MANAGER, 200, 201),
        (Role.OPS_ADMIN, 200, 201),
        (Role.INCIDENT_COMMANDER, 403, 403),
        (Role.RESPONDER, 403, 403),
        (Role.AUDITOR, 403, 403),
        (Role.ACCESS_REVIEWER, 403, 403),
        (None, 403, 403),
    ],
)
def test_role_matrix_for_people(service, role, gate_status, deploy_status):
    client = APIClient()
    client.force_login(person(f"user-{role or 'none'}".replace(" ", "-").lower(), role))
    gate = client.post(GATE, {"service": service.slug, "environment": "p", "version": "1"}, format="json")
    assert gate.status_code == gate_status
    deploy = client.post(DEPLOYMENTS, deployment_body(service), format="json")
    assert deploy.status_code == deploy_status


def test_nobody_approves_their_own_change_through_the_api(service):
    implementer = person("impl", Role.CHANGE_MANAGER)
    other = person("other", Role.CHANGE_MANAGER)
    client = APIClient()
    client.force_login(implementer)
    created = client.post(
        "/api/v1/changes/",
        {"title": "Resize the database", "services": [service.slug], "implementer": "impl"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    reference = created.json()["reference"]
    assert client.post(f"/api/v1/changes/{reference}/submit/", {}, format="json").status_code == 200
    refused = client.post(f"/api/v1/changes/{reference}/approve/", {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "self_approval"
    client.force_login(other)
    approved = client.post(f"/api/v1/changes/{reference}/approve/", {}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    again = client.post(f"/api/v1/changes/{reference}/start/", {}, format="json")
    assert again.status_code == 200
    wrong = client.post(f"/api/v1/changes/{reference}/submit/", {}, format="json")
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "invalid_transition"


def test_approval_with_a_key_is_made_by_the_keys_creator(service, make_api_key):
    from governance.services import api_key_create

    implementer = person("impl", Role.CHANGE_MANAGER)
    change = services.change_create(title="x", services=[service], implementer=implementer, created_by=implementer)
    services.change_submit(change=change)
    issued = api_key_create(name="impl's key", scopes=["changes:write"], created_by=implementer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    response = client.post(f"/api/v1/changes/{change.reference}/approve/", {}, format="json")
    assert response.status_code == 403
    assert Change.objects.get(pk=change.pk).approved_at is None


def test_schema_lists_the_gate_and_deployments(client):
    client.force_login(UserFactory(username="schema-admin", is_superuser=True))
    schema = client.get("/api/schema/", {"format": "json"}).json()
    for path in ("/api/v1/changes/gate/", "/api/v1/changes/deployments/"):
        assert "post" in schema["paths"][path]
    gate = schema["paths"]["/api/v1/changes/gate/"]["post"]
    assert {"200", "400", "409"} <= set(gate["responses"])


def test_pipeline_gate_calls_keep_the_per_key_rate_limit(pipeline, service, settings):
    from django.core.cache import cache
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "2/min"}}
    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    body = {"service": service.slug, "environment": "production", "version": "1"}
    try:
        statuses = [pipeline.post(GATE, body, format="json").status_code for _ in range(3)]
        refused = pipeline.post(GATE, body, format="json")
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
    assert statuses == [200, 200, 429]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0
    assert GateDecision.objects.count() == 2
