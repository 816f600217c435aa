import pytest
from celery import current_app
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from governance.registries import HealthCheck, health_checks
from tests.conftest import celery_broker

pytestmark = pytest.mark.django_db


def test_live_answers_ok_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_database_answers_ok(client):
    response = client.get("/health/database")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_checks_database_and_broker_without_details(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_refuses_anonymous_callers(client):
    response = client.get("/health")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_health_refuses_a_key_without_health_read(client, make_api_key):
    issued = make_api_key("incidents:read")
    assert client.get("/health", HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}").status_code == 403


def test_health_refuses_a_signed_in_non_staff_user(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=False))
    assert client.get("/health").status_code == 403


@pytest.mark.redis
@pytest.mark.integration
def test_health_is_200_with_a_key_when_a_worker_answers(client, make_api_key, celery_worker):
    # Every scheduled job just succeeded: without this the answer depends on how long ago the test
    # database was migrated (a never-run job is measured from the install).
    from governance.choices import JobOutcome
    from governance.models import JobRun
    from governance.registries import scheduled_jobs

    now = timezone.now()
    JobRun.objects.bulk_create(
        JobRun(job=job.name, finished_at=now, outcome=JobOutcome.SUCCEEDED) for job in scheduled_jobs
    )
    issued = make_api_key("health:read")
    response = client.get("/health", HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    body = response.json()
    assert response.status_code == 200, body
    by_name = {check["name"]: check for check in body["checks"]}
    assert by_name["database"]["status"] == "ok"
    assert by_name["broker"]["status"] == "ok"
    assert by_name["workers"]["status"] == "ok"
    assert "job:governance.heartbeat" in by_name


def test_health_is_503_naming_the_broker_when_it_is_unreachable(client, make_api_key, monkeypatch):
    issued = make_api_key("health:read")
    monkeypatch.setitem(current_app.conf, "broker_transport_options", {})
    # Port 9 (discard) on loopback: nothing listens there, so the connection is refused at once.
    with celery_broker("redis://127.0.0.1:9/0"):
        response = client.get("/health", HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
        ready = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert "broker" in body["failing"]
    broker = next(check for check in body["checks"] if check["name"] == "broker")
    assert "unreachable" in broker["detail"]
    assert ready.status_code == 503


def test_staff_session_may_read_health(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True))
    response = client.get("/health")
    assert response.status_code in (200, 503)
    assert {"status", "checks", "failing", "checked_at"} <= set(response.json())


def test_a_check_that_raises_is_reported_critical_not_a_500(client, make_api_key):
    def broken():
        raise RuntimeError("disk on fire")

    health_checks.register("broken", HealthCheck("broken", broken))
    try:
        issued = make_api_key("health:read")
        response = client.get("/health", HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    finally:
        health_checks.unregister("broken")
    assert response.status_code == 503
    broken_result = next(check for check in response.json()["checks"] if check["name"] == "broken")
    assert broken_result["detail"] == "RuntimeError: disk on fire"


def test_metrics_parse_with_the_prometheus_parser(client, make_api_key):
    issued = make_api_key("health:read")
    client.get("/health/live")  # some request traffic to count
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.content.decode())}
    assert "vigil_job_seconds_since_success" in families
    assert "vigil_job_stale" in families
    assert any(name.startswith("django_http_requests") for name in families)
    heartbeat = [
        s for s in families["vigil_job_seconds_since_success"].samples if s.labels["job"] == "governance.heartbeat"
    ]
    assert heartbeat[0].value == -1  # never ran in this test


def test_metrics_are_public_only_when_configured(client, settings):
    settings.METRICS_PUBLIC = False
    assert client.get("/metrics").status_code == 401
    settings.METRICS_PUBLIC = True
    assert client.get("/metrics").status_code == 200
