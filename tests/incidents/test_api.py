import pytest

from governance.choices import Role
from incidents import services
from incidents.choices import EventKind, IncidentStatus
from incidents.models import Incident, IncidentEvent
from tests.factories import ServiceFactory, UserFactory, person

from .conftest import publish_postmortem
from .factories import IncidentFactory

pytestmark = pytest.mark.django_db
LIST = "/api/v1/incidents/"


@pytest.fixture
def writer(api_client_for):
    return api_client_for("incidents:read", "incidents:write")


@pytest.fixture
def reader(api_client_for):
    return api_client_for("incidents:read")


def url(incident, action=""):
    return f"{LIST}{incident.pk}/{action + '/' if action else ''}"


def test_declare_returns_201_with_the_contract_fields(writer, service, commander):
    response = writer.post(
        LIST,
        {"title": "Checkout down", "severity": "SEV1", "service": service.slug, "commander": commander.username},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    for key in (
        "id",
        "reference",
        "title",
        "severity",
        "status",
        "service",
        "commander",
        "declared_at",
        "ack_due_at",
        "acknowledged_at",
        "mitigated_at",
        "resolved_at",
        "closed_at",
        "ack_breached",
        "url",
    ):
        assert key in body
    assert body["reference"] == f"INC-{body['id']}"
    assert body["status"] == "declared"
    assert body["service"] == service.slug
    assert body["commander"] == commander.username
    assert body["declared_at"].endswith("Z") or body["declared_at"].endswith("+00:00")
    assert body["url"].endswith(f"/admin/incidents/incident/{body['id']}/change/")
    assert Incident.objects.get(pk=body["id"]).source == "api"


def test_declare_with_open_dedup_key_returns_200_and_that_incident(writer, service):
    payload = {"title": "Disk full", "severity": "SEV2", "service": service.slug, "dedup_key": "disk-db1"}
    first = writer.post(LIST, payload, format="json")
    second = writer.post(LIST, payload, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]


def test_declare_with_bad_fields_names_them(writer):
    response = writer.post(LIST, {"title": "", "severity": "SEV7", "service": "nope"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) >= {"title", "severity", "service"}


def test_declare_needs_the_write_scope(reader, service):
    response = reader.post(LIST, {"title": "x", "severity": "SEV1", "service": service.slug}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_no_key_is_401(client):
    response = client.get(LIST)
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_list_filters_by_status_severity_service_and_open(reader, commander):
    other = ServiceFactory(slug="search")
    open_sev1 = IncidentFactory(severity="SEV1", commander=commander)
    sev3 = IncidentFactory(severity="SEV3", service=other, commander=commander)
    services.incident_acknowledge(incident=sev3, actor=commander)
    services.incident_resolve(incident=sev3, actor=commander)

    def ids(query):
        response = reader.get(LIST + query)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"count", "count_is_estimate", "next", "previous", "results"}
        return [row["id"] for row in body["results"]]

    assert ids("?severity=SEV1") == [open_sev1.pk]
    assert ids("?status=resolved") == [sev3.pk]
    assert ids("?service=search") == [sev3.pk]
    assert ids("?open=true") == [open_sev1.pk]


def test_list_with_unknown_status_is_400(reader):
    response = reader.get(LIST + "?status=exploded")
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


def test_detail_includes_the_timeline_newest_first(reader, incident):
    response = reader.get(url(incident))
    assert response.status_code == 200
    timeline = response.json()["timeline"]
    assert [event["kind"] for event in timeline][-1] == "declared"


def test_unknown_incident_is_404(reader):
    response = reader.get(f"{LIST}999999/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_acknowledge_is_idempotent(writer, incident):
    first = writer.post(url(incident, "acknowledge"), {}, format="json")
    second = writer.post(url(incident, "acknowledge"), {}, format="json")
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["acknowledged_at"] == second.json()["acknowledged_at"] is not None
    assert IncidentEvent.objects.filter(incident=incident, kind=EventKind.ACKNOWLEDGED).count() == 1


def test_post_update_returns_201_and_the_event(writer, incident):
    response = writer.post(url(incident, "updates"), {"message": "Rolling back."}, format="json")
    assert response.status_code == 201
    assert response.json()["kind"] == "status_update"
    assert response.json()["actor"] == "api-key:test key"


def test_post_update_without_message_is_400(writer, incident):
    response = writer.post(url(incident, "updates"), {}, format="json")
    assert response.status_code == 400
    assert "message" in response.json()["error"]["fields"]


def test_mitigate_resolve_close_walk_the_lifecycle(writer, incident, commander):
    assert writer.post(url(incident, "acknowledge"), {}, format="json").status_code == 200
    assert writer.post(url(incident, "mitigate"), {"note": "contained"}, format="json").json()["status"] == "mitigated"
    assert writer.post(url(incident, "resolve"), {}, format="json").json()["status"] == "resolved"
    publish_postmortem(incident, commander)
    response = writer.post(url(incident, "close"), {}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    assert response.json()["closed_at"] is not None


def test_resolve_before_acknowledge_is_409_invalid_transition(writer, incident):
    response = writer.post(url(incident, "resolve"), {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"


def test_mitigate_before_acknowledge_is_409(writer, incident):
    response = writer.post(url(incident, "mitigate"), {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"


def test_close_without_published_postmortem_is_409_postmortem_required(writer, resolved):
    response = writer.post(url(resolved, "close"), {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "postmortem_required"
    assert Incident.objects.get(pk=resolved.pk).status == IncidentStatus.RESOLVED


def test_close_before_resolve_is_409(writer, acknowledged):
    response = writer.post(url(acknowledged, "close"), {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"


def test_change_severity(writer, incident):
    response = writer.post(url(incident, "severity"), {"severity": "SEV2", "reason": "fewer users"}, format="json")
    assert response.status_code == 200
    assert response.json()["severity"] == "SEV2"


def test_change_severity_needs_reason(writer, incident):
    response = writer.post(url(incident, "severity"), {"severity": "SEV2"}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["error"]["fields"]


def test_session_responder_may_acknowledge_but_not_resolve(client, incident):
    responder = person("resp", Role.RESPONDER)
    client.force_login(responder)
    assert client.post(url(incident, "acknowledge"), {}, content_type="application/json").status_code == 200
    response = client.post(url(incident, "resolve"), {}, content_type="application/json")
    assert response.status_code == 403


def test_session_auditor_may_read_but_not_write(client, incident):
    client.force_login(person("aud", Role.AUDITOR))
    assert client.get(url(incident)).status_code == 200
    assert client.post(url(incident, "acknowledge"), {}, content_type="application/json").status_code == 403


def test_schema_lists_every_incident_endpoint(client, django_user_model):
    client.force_login(UserFactory(username="schema-admin", is_superuser=True))
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    for path in (
        "/api/v1/incidents/",
        "/api/v1/incidents/{id}/",
        "/api/v1/incidents/{id}/acknowledge/",
        "/api/v1/incidents/{id}/updates/",
        "/api/v1/incidents/{id}/mitigate/",
        "/api/v1/incidents/{id}/resolve/",
        "/api/v1/incidents/{id}/close/",
        "/api/v1/incidents/{id}/severity/",
        "/api/v1/alerts/alertmanager/",
    ):
        assert path in text
    assert "postmortem_required" in text


def test_unknown_commander_is_400(writer, service):
    response = writer.post(
        LIST, {"title": "x", "severity": "SEV1", "service": service.slug, "commander": "nobody"}, format="json"
    )
    assert response.status_code == 400
    assert "commander" in response.json()["error"]["fields"]


def test_times_are_utc_whatever_the_display_time_zone(reader, incident, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    body = reader.get(url(incident)).json()
    assert body["declared_at"].endswith("Z")
    assert body["ack_due_at"].endswith("Z")


def test_a_database_outage_is_a_503_with_retry_after_and_saves_nothing(writer, service, monkeypatch):
    """What a pipeline sees while PostgreSQL restarts (tests/drills/test_postgres_restart.py runs the real
    thing): a 503 in the error format telling it to try again, never a bare 500."""
    from django import db

    def database_gone(**kwargs):
        raise db.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "incident_declare_or_get", database_gone)
    response = writer.post(
        "/api/v1/incidents/", {"title": "Checkout down", "severity": "SEV1", "service": service.slug}, format="json"
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "service_unavailable"
    assert not Incident.objects.exists()


def test_ingestion_during_a_database_outage_is_a_503_too(api_client_for, monkeypatch):
    from django import db

    def database_gone(**kwargs):
        raise db.OperationalError("could not connect to server")

    monkeypatch.setattr(services, "alertmanager_payload_store", database_gone)
    client = api_client_for("alerts:ingest")
    payload = {"version": "4", "status": "firing", "receiver": "vigil", "groupKey": "{}:{}", "alerts": []}
    response = client.post("/api/v1/alerts/alertmanager/", payload, format="json")
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
