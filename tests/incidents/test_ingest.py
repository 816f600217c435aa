import copy
import datetime as dt
import json
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone

from incidents import services, tasks
from incidents.choices import AlertStatus, EventKind, IncidentSource, IncidentStatus
from incidents.models import Alert, AlertmanagerPayload, Incident, IncidentEvent
from tests.conftest import wait_for
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/alerts/alertmanager/"
PAYLOADS = Path(__file__).parent / "payloads"


def load(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


@pytest.fixture
def ingest(api_client_for):
    return api_client_for("alerts:ingest")


@pytest.fixture
def catalog(db):
    ServiceFactory(slug="checkout-api")
    ServiceFactory(slug="primary-postgres")


def post(client, payload, content_type="application/json"):
    body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
    return client.generic("POST", URL, body, content_type=content_type)


def process_all() -> None:
    for pk in AlertmanagerPayload.objects.filter(processed_at__isnull=True).order_by("pk").values_list("pk", flat=True):
        tasks.process_alertmanager_payload(pk)


def deliver(client, name_or_payload):
    payload = load(name_or_payload) if isinstance(name_or_payload, str) else name_or_payload
    response = post(client, payload)
    assert response.status_code == 202, response.content
    process_all()
    return response


# --- accepted, stored raw, processed later ------------------------------------------------------------


def test_firing_payload_is_stored_raw_and_answered_202(ingest, catalog):
    raw = (PAYLOADS / "firing.json").read_bytes()
    response = post(ingest, raw)
    assert response.status_code == 202
    assert response.json() == {"accepted": 1}
    stored = AlertmanagerPayload.objects.get()
    assert stored.body == raw.decode()
    assert stored.processed_at is None
    assert not Incident.objects.exists()


def test_a_burst_of_payloads_queues_one_drain_task(ingest, catalog, monkeypatch, django_capture_on_commit_callbacks):
    from incidents.services import alertmanager

    queued = []
    monkeypatch.setattr(tasks.drain_alertmanager_payloads, "delay", lambda: queued.append("drain"))
    monkeypatch.setattr(
        tasks.drain_alertmanager_payloads, "apply_async", lambda countdown: queued.append(f"tail in {countdown} s")
    )
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            assert post(ingest, load("firing")).status_code == 202
    assert queued == ["drain"]
    assert tasks.drain_alertmanager_payloads() == "3 payload(s) processed, 0 failed"
    # The drain found work, so it looks again shortly: that catches a request that skipped its ask.
    assert queued == ["drain", "tail in 1.0 s"]
    with django_capture_on_commit_callbacks(execute=True):
        assert post(ingest, load("resolved")).status_code == 202
    assert queued == ["drain", "tail in 1.0 s"]  # asked less than a second ago
    monkeypatch.setattr(alertmanager, "_last_drain_ask", alertmanager._last_drain_ask - alertmanager.DRAIN_ASK_INTERVAL)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(ingest, load("resolved")).status_code == 202
    assert queued == ["drain", "tail in 1.0 s", "drain"]


def test_a_drain_that_found_nothing_does_not_look_again(catalog, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.drain_alertmanager_payloads, "apply_async", lambda countdown: queued.append(countdown))
    assert tasks.drain_alertmanager_payloads() == "0 payload(s) processed, 0 failed"
    assert queued == []


def test_drain_is_queued_only_after_the_callers_commit(catalog, monkeypatch, django_capture_on_commit_callbacks):
    from django.db import transaction

    from incidents.ingest import parse_payload

    queued = []
    monkeypatch.setattr(tasks.drain_alertmanager_payloads, "delay", lambda: queued.append("drain"))
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        services.alertmanager_payload_store(body="{}", parsed=parse_payload(load("firing")))
        assert queued == []
    assert len(callbacks) == 1
    assert queued == ["drain"]


def test_firing_alert_opens_one_incident(ingest, catalog):
    deliver(ingest, "firing")
    incident = Incident.objects.get()
    assert incident.severity == "SEV1"
    assert incident.service.slug == "checkout-api"
    assert incident.source == IncidentSource.ALERT
    assert incident.title == "CheckoutHighErrorRate: Checkout is failing requests"
    assert incident.alerts.get().fingerprint == "4f2a9c1e7b3d5a60"
    assert IncidentEvent.objects.filter(incident=incident, kind=EventKind.ALERT_ATTACHED).count() == 1


def test_repeated_delivery_creates_no_duplicates(ingest, catalog):
    for _ in range(3):
        deliver(ingest, "firing")
    assert Incident.objects.count() == 1
    assert Alert.objects.count() == 1
    assert IncidentEvent.objects.filter(kind=EventKind.ALERT_ATTACHED).count() == 1
    assert AlertmanagerPayload.objects.filter(processed_at__isnull=False).count() == 3


def test_resolved_alert_is_recorded_on_the_timeline(ingest, catalog):
    deliver(ingest, "firing")
    deliver(ingest, "resolved")
    deliver(ingest, "resolved")
    incident = Incident.objects.get()
    alert = incident.alerts.get()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.ends_at.isoformat() == "2026-03-03T03:21:40.500000+00:00"
    assert IncidentEvent.objects.filter(incident=incident, kind=EventKind.ALERT_RESOLVED).count() == 1
    # An alert resolving is a fact on the timeline; the commander decides when the incident is over.
    assert incident.status == IncidentStatus.DECLARED


def test_several_alerts_in_one_group_join_one_incident(ingest, catalog):
    response = deliver(ingest, "group_of_three")
    assert response.json() == {"accepted": 3}
    incident = Incident.objects.get()
    assert incident.severity == "SEV2"  # warning → SEV2 by default
    assert incident.service.slug == "primary-postgres"
    assert incident.alerts.count() == 3
    assert incident.alerts.filter(status=AlertStatus.RESOLVED).count() == 1


def test_a_new_alert_in_the_same_group_joins_the_open_incident(ingest, catalog):
    deliver(ingest, "firing")
    payload = load("firing")
    extra = copy.deepcopy(payload["alerts"][0])
    extra["fingerprint"] = "0000aaaa1111bbbb"
    extra["labels"]["instance"] = "checkout-api-other:8080"
    payload["alerts"].append(extra)
    deliver(ingest, payload)
    assert Incident.objects.count() == 1
    assert Incident.objects.get().alerts.count() == 2


def test_different_groups_open_different_incidents(ingest, catalog):
    deliver(ingest, "firing")
    deliver(ingest, "group_of_three")
    assert Incident.objects.count() == 2


def test_warning_mapping_is_configurable(ingest, catalog, settings):
    settings.ALERTMANAGER_WARNING_SEVERITY = "SEV3"
    deliver(ingest, "group_of_three")
    assert Incident.objects.get().severity == "SEV3"


def test_missing_optional_fields_are_accepted(ingest, catalog):
    deliver(ingest, "minimal")
    incident = Incident.objects.get()
    assert incident.severity == "SEV3"  # info
    assert incident.service.slug == "unassigned"  # unknown service label
    alert = incident.alerts.get()
    assert len(alert.fingerprint) == 16
    assert alert.annotations == {}


def test_resolved_only_group_opens_no_incident(ingest, catalog):
    deliver(ingest, "resolved")
    assert not Incident.objects.exists()
    assert Alert.objects.get().status == AlertStatus.RESOLVED


def test_a_group_firing_again_after_resolution_opens_a_new_incident(ingest, catalog, commander):
    deliver(ingest, "firing")
    first = Incident.objects.get()
    services.incident_acknowledge(incident=first, actor=commander)
    services.incident_resolve(incident=first, actor=commander)
    payload = load("firing")
    payload["alerts"][0]["startsAt"] = "2026-03-04T10:00:00Z"
    deliver(ingest, payload)
    assert Incident.objects.count() == 2


def test_a_group_firing_again_is_linked_as_a_recurrence_on_both_incidents(ingest, catalog, commander, client):
    from incidents.models import Postmortem
    from incidents.services import action_item_create

    deliver(ingest, "firing")
    first = Incident.objects.get()
    services.incident_acknowledge(incident=first, actor=commander)
    services.incident_resolve(incident=first, actor=commander)
    postmortem = Postmortem.objects.get(incident=first)  # resolving a SEV1 opens its postmortem
    action_item_create(
        incident=first,
        title="Raise the pool size",
        kind="corrective",
        due_date=timezone.localdate(),
        owner=commander,
        actor=commander,
    )
    payload = load("firing")
    payload["alerts"][0]["startsAt"] = "2026-03-04T10:00:00Z"
    deliver(ingest, payload)

    second = Incident.objects.exclude(pk=first.pk).get()
    assert second.recurrence_of == first
    new_side = second.events.get(kind=EventKind.RECURRENCE)
    assert new_side.message.startswith(f"Recurrence of {first.reference}")
    old_side = first.events.get(kind=EventKind.RECURRENCE)
    assert old_side.message == f"Recurred as {second.reference} — its postmortem's action items did not prevent it"

    reader = api_reader(client, commander)
    assert reader.get(f"/api/v1/incidents/{second.pk}/").json()["recurrence_of"] == first.reference
    earlier = reader.get(f"/api/v1/incidents/{first.pk}/").json()
    assert earlier["recurrence_of"] is None
    assert earlier["recurrences"] == [second.reference]

    page = reader.get(f"/admin/incidents/postmortem/{postmortem.pk}/change/").content.decode()
    assert "The action items did not prevent a recurrence" in page
    assert second.reference in page
    incident_page = reader.get(f"/admin/incidents/incident/{second.pk}/change/").content.decode()
    assert (
        f'Recurrence of <a href="/admin/incidents/incident/{first.pk}/change/">{first.reference}</a>' in incident_page
    )


def api_reader(client, user):
    client.force_login(user)
    return client


def test_sweeper_processes_payloads_whose_task_was_lost(ingest, catalog):
    post(ingest, load("firing"))
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2)):
        summary = tasks.alertmanager_sweeper()
    assert summary.startswith("1 payload(s) processed")
    assert Incident.objects.count() == 1


def test_processing_twice_is_harmless(ingest, catalog):
    post(ingest, load("firing"))
    pk = AlertmanagerPayload.objects.get().pk
    tasks.process_alertmanager_payload(pk)
    assert tasks.process_alertmanager_payload(pk) == "already processed or in progress"
    assert Alert.objects.count() == 1


# --- refused ------------------------------------------------------------------------------------------


def error_of(response, status):
    assert response.status_code == status, response.content
    return response.json()["error"]


def test_bad_json_is_400_invalid_json(ingest):
    assert error_of(post(ingest, b'{"alerts": [}'), 400)["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.pop("groupKey"), "groupKey"),
        (lambda p: p.update(alerts={"not": "a list"}), "alerts"),
        (lambda p: p.pop("alerts"), "alerts"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt"),
        (lambda p: p["alerts"][0].pop("startsAt"), "alerts.0.startsAt"),
        (lambda p: p["alerts"][0].update(status="exploding"), "alerts.0.status"),
        (lambda p: p["alerts"][0].update(labels=["a"]), "alerts.0.labels"),
        (lambda p: p["alerts"][0]["labels"].update(severity=3), "alerts.0.labels"),
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p["alerts"].append("text"), "alerts.1"),
    ],
)
def test_schema_errors_are_400_naming_the_field(ingest, mutate, field):
    payload = load("firing")
    mutate(payload)
    error = error_of(post(ingest, payload), 400)
    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert not AlertmanagerPayload.objects.exists()


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"null", b"42"])
def test_json_that_is_not_an_object_is_400(ingest, body):
    error_of(post(ingest, body), 400)


def test_non_json_content_type_is_415(ingest):
    response = post(ingest, json.dumps(load("firing")), content_type="text/plain")
    assert error_of(response, 415)["code"] == "unsupported_media_type"


def test_body_over_the_endpoint_limit_is_413(ingest, settings):
    settings.ALERTMANAGER_MAX_BODY_BYTES = 1024
    payload = load("firing")
    payload["commonAnnotations"]["description"] = "x" * 2000
    assert error_of(post(ingest, payload), 413)["code"] == "payload_too_large"


def test_body_over_djangos_limit_is_413(ingest, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    payload = load("firing")
    payload["commonAnnotations"]["description"] = "x" * 2000
    assert error_of(post(ingest, payload), 413)["code"] == "payload_too_large"


def test_no_key_is_401(client):
    response = client.post(URL, json.dumps(load("firing")), content_type="application/json")
    assert error_of(response, 401)["code"] in ("not_authenticated", "authentication_failed")


def test_key_without_ingest_scope_is_403(api_client_for):
    client = api_client_for("incidents:write")
    assert error_of(post(client, load("firing")), 403)["code"] == "permission_denied"


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_turns_the_payload_into_an_incident(celery_worker, api_client_for):
    ServiceFactory(slug="checkout-api")
    client = api_client_for("alerts:ingest")
    assert post(client, load("firing")).status_code == 202
    incident = wait_for(lambda: Incident.objects.filter(source=IncidentSource.ALERT).first(), timeout=30)
    assert incident.severity == "SEV1"
    wait_for(lambda: AlertmanagerPayload.objects.filter(processed_at__isnull=False).exists(), timeout=10)


@pytest.mark.parametrize(
    "body",
    [
        {"groupKey": 7, "alerts": []},
        {"groupKey": "g", "alerts": [{"status": "firing", "labels": {"a": None}, "startsAt": "2026-03-03T00:00:00Z"}]},
        {"groupKey": "g", "alerts": [{"status": "firing", "labels": {}, "startsAt": 5}]},
        {"groupKey": "g", "alerts": [{"status": "firing", "labels": {}, "startsAt": "2026-13-45T99:00:00Z"}]},
        {"groupKey": "g", "alerts": [{"status": "firing", "labels": {}, "startsAt": "2026-03-03T00:00:00"}]},
        {
            "groupKey": "g",
            "alerts": [{"status": "firing", "labels": {}, "startsAt": "2026-03-03T00:00:00Z", "annotations": []}],
        },
        {"groupKey": "g", "commonLabels": ["x"], "alerts": []},
        {
            "groupKey": "g",
            "alerts": [{"status": "firing", "labels": {}, "startsAt": "2026-03-03T00:00:00Z", "fingerprint": 12}],
        },
        {"groupKey": "g", "status": None, "alerts": []},
    ],
)
def test_odd_payloads_are_400_never_500(ingest, body):
    response = post(ingest, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]


def test_an_empty_alert_list_is_accepted(ingest):
    response = post(ingest, {"version": "4", "groupKey": "{}:{}", "status": "firing", "alerts": []})
    assert response.json() == {"accepted": 0}
    process_all()
    assert not Incident.objects.exists()


def test_get_is_405_in_the_error_format(ingest):
    response = ingest.get(URL)
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert response["Allow"] == "POST"


def test_missing_key_names_the_bearer_scheme(client):
    response = client.post(URL, json.dumps(load("firing")), content_type="application/json")
    assert error_of(response, 401)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_the_webhook_is_in_the_openapi_schema(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.json"
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(out))
    operation = json.loads(out.read_text())["paths"]["/api/v1/alerts/alertmanager/"]["post"]
    assert operation["security"] == [{"apiKey": []}]
    assert set(operation["responses"]) == {"202", "400", "401", "403", "413", "415"}
    assert "alerts" in operation["requestBody"]["content"]["application/json"]["schema"]["properties"]
