import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.governance.urls")]

ECHO = "/api/v1/test-echo/"


@pytest.fixture
def api(api_client_for):
    return api_client_for("incidents:write")


def _error(response) -> dict:
    body = response.json()
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


def test_valid_request_passes(api):
    response = api.post(ECHO, {"title": "ok", "count": 1}, format="json")
    assert response.status_code == 201


def test_validation_error_names_each_field(api):
    response = api.post(ECHO, {"title": "x" * 11, "count": -1, "tags": ["ok", {"no": 1}]}, format="json")
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"title", "count", "tags.1"}


def test_broken_json_is_a_400(api):
    response = api.generic("POST", ECHO, b'{"title": ', content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_json"


def test_non_json_body_is_a_415(api):
    response = api.generic("POST", ECHO, b"title=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


def test_body_over_the_limit_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api.generic("POST", ECHO, b'{"title": "' + b"x" * 500 + b'"}', content_type="application/json")
    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"


def test_wrong_method_is_a_405(api):
    response = api.get(ECHO)
    assert response.status_code == 405
    assert _error(response)["code"] == "method_not_allowed"


def test_unknown_api_path_is_a_json_404(api):
    response = api.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_rate_limit_is_a_429_with_retry_after(api, settings):
    from django.core.cache import cache

    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "2/min"}}
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    try:
        statuses = [api.post(ECHO, {"title": "ok", "count": 1}, format="json").status_code for _ in range(3)]
        assert statuses == [201, 201, 429]
        response = api.post(ECHO, {"title": "ok", "count": 1}, format="json")
        assert _error(response)["code"] == "rate_limited"
        assert int(response["Retry-After"]) > 0
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
        cache.clear()


def test_json_nested_deeper_than_python_recurses_is_a_400(api):
    body = b"[" * 100_000 + b"]" * 100_000
    response = api.generic("POST", ECHO, body, content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_json"


def test_each_input_serializer_binds_its_own_copy_of_every_field():
    """JSONInputSerializer shallow-copies scalar fields instead of DRF's deep copy: each serializer still
    gets fields of its own, bound to it, and the declared ones stay unbound for the next."""
    from changes.api.serializers import ChangeCreateSerializer, GateInputSerializer

    good = GateInputSerializer(data={"service": "payments", "environment": "production", "version": "1"})
    bad = GateInputSerializer(data={"service": "not a slug!", "environment": "production", "version": ""})
    assert good.is_valid(), good.errors
    assert not bad.is_valid()
    assert set(bad.errors) == {"service", "version"}
    for name, declared in GateInputSerializer._declared_fields.items():
        assert good.fields[name] is not bad.fields[name]
        assert declared not in (good.fields[name], bad.fields[name])
        assert (good.fields[name].parent, bad.fields[name].parent) == (good, bad)
        assert (declared.parent, declared.field_name) == (None, None)
    assert good.validated_data == {"service": "payments", "environment": "production", "version": "1", "change": ""}
    # A field with a child (services: a list of slugs) is deep-copied as DRF does: its child too.
    first, second = ChangeCreateSerializer(data={}), ChangeCreateSerializer(data={})
    assert first.fields["services"].child is not second.fields["services"].child
