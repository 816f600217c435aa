"""The SLO API: list, pushed counts, the error format, scopes and roles."""

from datetime import UTC, datetime

import pytest
import time_machine

from governance.choices import Role
from slos.models import HourlyCount, PushedInterval
from slos.services import slo_evaluate
from tests.factories import person

from .conftest import hourly_history, push

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def _interval(**overrides):
    base = {"start": "2026-11-20T11:00:00Z", "end": "2026-11-20T11:01:00Z", "good": 990, "total": 1000}
    return {**base, **overrides}


def _post(client, slug, *intervals):
    return client.post(f"/api/v1/slos/{slug}/events/", {"intervals": list(intervals)}, format="json")


def test_push_then_again_is_unchanged(api_client_for, pushed_slo):
    client = api_client_for("slos:write")
    first = _post(
        client, pushed_slo.slug, _interval(), _interval(start="2026-11-20T11:01:00Z", end="2026-11-20T11:02:00Z")
    )
    assert first.status_code == 200, first.json()
    assert first.json() == {"created": 2, "updated": 0, "unchanged": 0}
    again = _post(client, pushed_slo.slug, _interval())
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 1}
    changed = _post(client, pushed_slo.slug, _interval(good=900))
    assert changed.json() == {"created": 0, "updated": 1, "unchanged": 0}
    assert PushedInterval.objects.count() == 2
    hour = HourlyCount.objects.get()
    assert (hour.good, hour.total) == (1890, 2000)


@pytest.mark.parametrize(
    ("interval", "field"),
    [
        (_interval(good=1001), "intervals.0.good"),
        (_interval(good=-1), "intervals.0.good"),
        (_interval(total=-1, good=0), "intervals.0.total"),
        (_interval(end="2026-11-20T11:00:00Z"), "intervals.0.end"),
        (_interval(end="2026-11-20T10:59:00Z"), "intervals.0.end"),
        (_interval(start="yesterday"), "intervals.0.start"),
        (_interval(good="many"), "intervals.0.good"),
    ],
)
def test_bad_intervals_are_400_naming_the_field(api_client_for, pushed_slo, interval, field):
    response = _post(api_client_for("slos:write"), pushed_slo.slug, interval)
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "validation_error"
    assert field in body["error"]["fields"], body
    assert not PushedInterval.objects.exists()


def test_no_intervals_and_non_json_bodies_are_refused(api_client_for, pushed_slo):
    client = api_client_for("slos:write")
    assert client.post(f"/api/v1/slos/{pushed_slo.slug}/events/", {"intervals": []}, format="json").status_code == 400
    response = client.post(f"/api/v1/slos/{pushed_slo.slug}/events/", "[1, 2", content_type="application/json")
    assert response.status_code == 400 and "error" in response.json()


def test_unknown_slo_is_404_in_the_error_format(api_client_for, db):
    response = _post(api_client_for("slos:write"), "nope", _interval())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_scopes_are_enforced(api_client_for, pushed_slo):
    assert _post(api_client_for("slos:read"), pushed_slo.slug, _interval()).status_code == 403
    assert api_client_for("slos:write").get("/api/v1/slos/").status_code == 403
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/slos/").status_code == 401


def test_list_shows_the_latest_evaluation(api_client_for, pushed_slo):
    push(pushed_slo, hourly_history(NOW, hours=24 * 28, total=100_000, bad=50))
    with time_machine.travel(NOW, tick=False):
        slo_evaluate(slo=pushed_slo)
    response = api_client_for("slos:read").get("/api/v1/slos/", {"service": "checkout-api"})
    assert response.status_code == 200
    (item,) = response.json()["results"]
    assert item["slug"] == "checkout-availability"
    assert item["service"] == "checkout-api"
    assert item["objective"] == 0.999
    assert item["window"] == "28d"
    assert item["sli"] == pytest.approx(0.9995)
    assert item["error_budget_remaining"] == pytest.approx(0.5)
    assert set(item["burn_rates"]) == {"5m", "30m", "1h", "2h", "6h", "1d", "3d"}
    assert item["budget_status"] == "ok"
    assert item["alert"] is None
    assert item["evaluated_at"] == "2026-11-20T12:00:00Z"
    other = api_client_for("slos:read").get("/api/v1/slos/", {"service": "other"})
    assert other.json()["results"] == []


def test_unevaluated_slo_is_unknown_with_nulls(api_client_for, pushed_slo):
    (item,) = api_client_for("slos:read").get("/api/v1/slos/").json()["results"]
    assert item["budget_status"] == "unknown"
    assert item["sli"] is None and item["error_budget_remaining"] is None
    assert item["burn_rates"] == dict.fromkeys(["5m", "30m", "1h", "2h", "6h", "1d", "3d"])


def test_roles_from_the_session(client, pushed_slo):
    auditor = person("auditor", Role.AUDITOR)
    ops = person("ops", Role.OPS_ADMIN)
    responder_without_role = person("nobody")
    client.force_login(auditor)
    assert client.get("/api/v1/slos/").status_code == 200
    body = {"intervals": [_interval()]}
    assert (
        client.post(f"/api/v1/slos/{pushed_slo.slug}/events/", body, content_type="application/json").status_code == 403
    )
    client.force_login(ops)
    assert (
        client.post(f"/api/v1/slos/{pushed_slo.slug}/events/", body, content_type="application/json").status_code == 200
    )
    client.force_login(responder_without_role)
    assert client.get("/api/v1/slos/").status_code == 403


def test_push_to_a_prometheus_slo_is_refused(api_client_for, pushed_slo):
    from slos.services import prometheus_source_save, slo_save

    source, _ = prometheus_source_save(name="p", url="http://127.0.0.1:9")
    slo_save(slug=pushed_slo.slug, source_kind="prometheus", prometheus_source=source, good_query="a", total_query="b")
    response = _post(api_client_for("slos:write"), pushed_slo.slug, _interval())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_pushed"


def test_release_gate_api_refuses_with_error_budget_exhausted(api_client_for, pushed_slo):
    push(pushed_slo, hourly_history(NOW, hours=24 * 28, total=100_000, bad=150))
    with time_machine.travel(NOW, tick=False):
        slo_evaluate(slo=pushed_slo)
        response = api_client_for("changes:gate").post(
            "/api/v1/changes/gate/",
            {"service": "checkout-api", "environment": "production", "version": "v1"},
            format="json",
        )
    assert response.status_code == 409
    body = response.json()
    assert body["allowed"] is False or body["error"].get("allowed") is False
    reasons = body.get("reasons") or body["error"]["reasons"]
    (reason,) = [r for r in reasons if r["code"] == "error_budget_exhausted"]
    assert reason["slo"] == "checkout-availability"
    assert reason["error_budget_remaining"] == pytest.approx(-0.5)
