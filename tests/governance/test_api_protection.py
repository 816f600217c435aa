"""API protection: every write endpoint refuses non-JSON (415) and oversized bodies (413) in the error
format; writes are rate-limited per client address and requests per API key (429 with Retry-After);
the inbound webhooks (ingestion) are never rate-limited.

The write endpoints come from walking the URL configuration, so a new one cannot escape.
"""

import datetime as dt
import json
import re

import pytest
from django.core.cache import cache
from django.test import RequestFactory
from django.urls import URLResolver, get_resolver
from rest_framework.test import APIClient

from governance.api.throttling import client_address
from governance.choices import Scope
from governance.registries import webhooks

WRITE_METHODS = ("post", "put", "patch", "delete")
_CONVERTER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback


def _sample_path(route: str) -> str:
    """A concrete path for a route: integers become 1, every other parameter `sample`."""
    return "/" + _CONVERTER.sub(lambda m: "1" if m["converter"] == "int" else "sample", route)


def _api_views():
    return [(route, callback) for route, callback in _routes(get_resolver().url_patterns) if route.startswith("api/")]


def _write_endpoints() -> list[tuple[str, str, str]]:
    """(METHOD, path, kind) for every write the API routes: DRF views' write handlers and the webhooks."""
    ingestion = {hook.path for hook in webhooks}
    endpoints = []
    for route, callback in _api_views():
        path = _sample_path(route)
        view_class = getattr(callback, "cls", None)
        if view_class is not None:
            endpoints += [(m.upper(), path, "api") for m in WRITE_METHODS if hasattr(view_class, m)]
        elif "/" + route in ingestion:
            endpoints.append(("POST", path, "webhook"))
    return endpoints


WRITE_ENDPOINTS = _write_endpoints()
ENDPOINT_IDS = [f"{method} {path}" for method, path, _ in WRITE_ENDPOINTS]
ACK = "/api/v1/incidents/999999/acknowledge/"  # no such incident: a write that changes nothing (404)
ALERTMANAGER = "/api/v1/alerts/alertmanager/"


@pytest.fixture(autouse=True)
def _pinned(settings):
    settings.MFA_REQUIRED_GROUPS = []
    settings.MFA_REQUIRE_SUPERUSERS = False
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": None, "api_ip": None}}
    cache.clear()
    yield
    cache.clear()


def _rates(settings, *, api_key=None, api_ip=None):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": api_key, "api_ip": api_ip},
    }


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


@pytest.fixture
def superuser_session(db, django_user_model):
    user = django_user_model.objects.create_superuser("protection-admin", "protection@example.com", "unused-pw")
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def all_scopes_key(make_api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(*Scope.values).raw_key}")
    return client


@pytest.fixture
def client_for(superuser_session, all_scopes_key):
    """The most privileged client each kind of endpoint takes: a superuser's session, or a key for webhooks."""
    return lambda kind: all_scopes_key if kind == "webhook" else superuser_session


# --- the enumeration ----------------------------------------------------------------------------------------


def test_the_url_walk_finds_the_documented_write_endpoints():
    found = {(method, path) for method, path, _ in WRITE_ENDPOINTS}
    assert {
        ("POST", "/api/v1/incidents/"),
        ("POST", "/api/v1/incidents/1/acknowledge/"),
        ("POST", ALERTMANAGER),
        ("POST", "/api/v1/backups/targets/sample/report/"),
        ("POST", "/api/v1/access/systems/sample/snapshot/"),
        ("POST", "/api/v1/changes/gate/"),
        ("POST", "/api/v1/slos/sample/events/"),
    } <= found


@pytest.mark.django_db
def test_every_other_api_view_refuses_writes(all_scopes_key):
    """A plain Django view under /api/ that is not a registered webhook must not take writes unguarded."""
    ingestion = {hook.path for hook in webhooks}
    others = [
        route for route, callback in _api_views() if not hasattr(callback, "cls") and "/" + route not in ingestion
    ]
    for route in others:
        response = all_scopes_key.post(_sample_path(route), {}, format="json")
        assert response.status_code == 405, route


# --- 415 and 413 on every write endpoint --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "kind"), WRITE_ENDPOINTS, ids=ENDPOINT_IDS)
def test_write_endpoint_refuses_a_body_that_is_not_json(client_for, method, path, kind):
    response = client_for(kind).generic(
        method, path, "title=x&severity=SEV1", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "kind"), WRITE_ENDPOINTS, ids=ENDPOINT_IDS)
def test_write_endpoint_refuses_a_body_over_the_limit(client_for, settings, method, path, kind):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"padding": "x" * 4096})
    response = client_for(kind).generic(method, path, body, content_type="application/json")
    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "kind"), WRITE_ENDPOINTS, ids=ENDPOINT_IDS)
def test_write_endpoint_takes_a_small_json_body_to_its_view(client_for, method, path, kind):
    """The same endpoint with a small JSON body reaches its view: the refusals above are about the body."""
    response = client_for(kind).generic(method, path, "{}", content_type="application/json; charset=utf-8")
    assert response.status_code not in (413, 415)
    assert response.status_code < 500


@pytest.mark.django_db
def test_a_write_without_a_body_needs_no_media_type(superuser_session):
    response = superuser_session.generic("POST", ACK, "")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


# --- rate limits ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_writes_from_one_address_share_one_limit_whoever_sends_them(
    settings, api_client_for, superuser_session, time_machine
):
    time_machine.move_to(dt.datetime(2026, 11, 20, 12, 0, 30, tzinfo=dt.UTC), tick=False)
    _rates(settings, api_ip="4/min")
    address = {"REMOTE_ADDR": "198.51.100.7"}
    key_a, key_b, anonymous = api_client_for("incidents:write"), api_client_for("incidents:write"), APIClient()
    statuses = [
        key_a.post(ACK, **address).status_code,
        key_b.post(ACK, **address).status_code,
        superuser_session.post(ACK, **address).status_code,
        anonymous.post(ACK, **address).status_code,
    ]
    assert statuses == [404, 404, 404, 401]

    # A fifth write from that address is refused, whoever sends it and whatever X-Forwarded-For claims.
    refused = key_a.post(ACK, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert refused.status_code == 429
    assert _error(refused)["code"] == "rate_limited"
    assert refused["Retry-After"] == "30"  # the window ends at 12:01:00
    assert anonymous.post(ACK, **address).status_code == 429

    # Reads are not counted per address, and another address has its own count.
    assert key_a.get("/api/v1/incidents/", **address).status_code != 429
    assert key_b.post(ACK, REMOTE_ADDR="198.51.100.8").status_code == 404

    time_machine.move_to(dt.datetime(2026, 11, 20, 12, 1, 0, tzinfo=dt.UTC), tick=False)
    assert key_a.post(ACK, **address).status_code == 404


@pytest.mark.django_db
def test_requests_with_one_key_share_one_limit(settings, api_client_for, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 20, 12, 0, 15, tzinfo=dt.UTC), tick=False)
    _rates(settings, api_key="2/min")
    key_a, key_b = api_client_for("incidents:read"), api_client_for("incidents:read")
    statuses = [key_a.get("/api/v1/incidents/", REMOTE_ADDR=f"198.51.100.{n}").status_code for n in (1, 2, 3)]
    assert statuses == [200, 200, 429]
    refused = key_a.get("/api/v1/incidents/")
    assert _error(refused)["code"] == "rate_limited"
    assert refused["Retry-After"] == "45"
    assert key_b.get("/api/v1/incidents/").status_code == 200


@pytest.mark.django_db
def test_a_keyed_write_is_counted_once_per_address_and_once_per_key_in_one_round_trip(
    settings, api_client_for, time_machine, monkeypatch
):
    """The write guard counts both limits in one call to Redis; DRF's per-key throttle reads that count
    instead of counting the request again."""
    from governance.api import throttling

    time_machine.move_to(dt.datetime(2026, 11, 20, 12, 0, 30, tzinfo=dt.UTC), tick=False)
    _rates(settings, api_key="3/min", api_ip="100/min")
    calls = []
    real = throttling.count_together
    monkeypatch.setattr(
        throttling, "count_together", lambda request, counters: calls.append(counters) or real(request, counters)
    )
    key = api_client_for("incidents:write", "incidents:read")
    address = {"REMOTE_ADDR": "198.51.100.30"}
    assert [key.post(ACK, **address).status_code for _ in range(3)] == [404, 404, 404]
    assert [[throttle.scope for throttle, _ in counters] for counters in calls] == [["api_ip", "api_key"]] * 3
    window = int(dt.datetime(2026, 11, 20, 12, 0, 30, tzinfo=dt.UTC).timestamp() // 60)
    assert cache.get(f"throttle_api_key_{key.api_key.prefix}:{window}") == 3
    assert cache.get(f"throttle_api_ip_198.51.100.30:{window}") == 3

    # The key's fourth request is refused, a write by the guard and a read by DRF's throttle alike.
    refused = key.post(ACK, **address)
    assert refused.status_code == 429 and _error(refused)["code"] == "rate_limited"
    assert refused["Retry-After"] == "30"
    assert key.get("/api/v1/incidents/", **address).status_code == 429
    assert cache.get(f"throttle_api_key_{key.api_key.prefix}:{window}") == 5


@pytest.mark.django_db
def test_the_limits_fail_open_while_redis_is_down(settings, api_client_for, caplog):
    from django.test import override_settings

    from tests.servers import free_port

    _rates(settings, api_key="1/min", api_ip="1/min")
    key = api_client_for("incidents:write", "incidents:read")
    dead_redis = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
    with override_settings(CACHES={"default": dead_redis}):
        statuses = [key.post(ACK, REMOTE_ADDR="198.51.100.40").status_code for _ in range(3)]
        statuses += [key.get("/api/v1/incidents/").status_code for _ in range(2)]
    assert statuses == [404, 404, 404, 200, 200]
    assert "rate limit api_ip, api_key not applied, the cache is unavailable" in caplog.text
    assert "rate limit api_key not applied, the cache is unavailable" in caplog.text


def _alertmanager_payload(n: int) -> dict:
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="Protection{n}"}}',
        "status": "firing",
        "receiver": "vigil",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": f"Protection{n}", "severity": "critical"},
                "annotations": {},
                "startsAt": "2026-11-20T12:00:00Z",
                "fingerprint": f"protection-{n}",
            }
        ],
    }


@pytest.mark.django_db
def test_ingestion_is_never_rate_limited(settings, api_client_for):
    _rates(settings, api_key="1/min", api_ip="1/min")
    alertmanager = api_client_for("alerts:ingest", "incidents:read", "incidents:write")
    address = {"REMOTE_ADDR": "198.51.100.20"}
    statuses = [
        alertmanager.post(ALERTMANAGER, _alertmanager_payload(n), format="json", **address).status_code
        for n in range(5)
    ]
    assert statuses == [202] * 5

    # Both limits were live all along, and the webhook posts used up neither: the key's first API request
    # and the address's first API write pass, the next ones are refused.
    assert alertmanager.get("/api/v1/incidents/", REMOTE_ADDR="198.51.100.21").status_code == 200
    assert alertmanager.get("/api/v1/incidents/", REMOTE_ADDR="198.51.100.21").status_code == 429
    anonymous = APIClient()
    assert anonymous.post(ACK, **address).status_code == 401
    assert anonymous.post(ACK, **address).status_code == 429


def test_client_address_is_remote_addr_with_ipv6_counted_per_64():
    factory = RequestFactory()

    def address(remote: str, **headers) -> str:
        return client_address(factory.post("/api/v1/incidents/", REMOTE_ADDR=remote, **headers))

    assert address("198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.9") == "198.51.100.7"
    assert address("::ffff:198.51.100.7") == "198.51.100.7"
    assert address("2001:db8:1:2::5") == address("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert address("2001:db8:1:3::5") != address("2001:db8:1:2::5")
