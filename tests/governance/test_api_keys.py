import hashlib

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from governance.models import ApiKey
from governance.services import api_key_revoke
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _metrics_need_a_key(settings):
    # These tests use /metrics as the keyed endpoint: it must not be public whatever the shell says.
    settings.METRICS_PUBLIC = False


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


def test_key_is_stored_only_as_a_hash(make_api_key):
    issued = make_api_key("health:read")
    secret = issued.raw_key.split("_", 2)[2]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM governance_apikey")
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert secret not in stored
    assert issued.api_key.hashed_secret == hashlib.sha256(secret.encode()).hexdigest()


def test_valid_key_is_accepted_and_marked_used(client, make_api_key):
    issued = make_api_key("health:read")
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    assert response.status_code == 200
    issued.api_key.refresh_from_db()
    assert issued.api_key.last_used_at is not None


def test_missing_credentials_get_401_in_the_error_format(client):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert _error(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_gets_401(client, make_api_key):
    issued = make_api_key("health:read")
    api_key_revoke(api_key=issued.api_key)
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    assert response.status_code == 401
    assert _error(response)["code"] == "authentication_failed"


def test_expired_key_gets_401(client, make_api_key, time_machine):
    issued = make_api_key("health:read", expires_days=1)
    time_machine.move_to(issued.api_key.expires_at, tick=False)
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    assert response.status_code == 401
    assert _error(response)["code"] == "authentication_failed"


def test_tampered_key_gets_401(client, make_api_key):
    issued = make_api_key("health:read")
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {issued.raw_key[:-2]}xx")
    assert response.status_code == 401


def test_key_without_the_scope_gets_403(client, make_api_key):
    issued = make_api_key("incidents:read")
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    assert response.status_code == 403
    error = _error(response)
    assert error["code"] == "permission_denied"
    assert "health:read" in error["message"]


def test_unknown_scope_is_refused_naming_the_field(make_api_key):
    from governance.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as excinfo:
        make_api_key("incidents:destroy")
    assert "scopes" in excinfo.value.fields


def test_create_api_key_command_prints_the_key_alone_on_the_last_line(capsys, client):
    call_command("create_api_key", "--name", "alertmanager", "--scopes", "alerts:ingest,health:read")
    out = capsys.readouterr().out
    raw = out.strip().splitlines()[-1]
    assert raw.startswith("vgl_")
    assert " " not in raw
    assert ApiKey.objects.get(name="alertmanager").scopes == ["alerts:ingest", "health:read"]
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_admin_shows_a_new_key_once(client):
    admin = UserFactory(is_superuser=True)
    client.force_login(admin)
    response = client.post(
        reverse("admin:governance_apikey_add"), {"name": "backup job", "scopes": ["backups:report"], "expires_days": 90}
    )
    assert response.status_code == 200
    raw = response.context["raw_key"]
    assert raw.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    api_key = ApiKey.objects.get(name="backup job")
    change_page = client.get(reverse("admin:governance_apikey_change", args=[api_key.pk]))
    assert raw.split("_", 2)[2].encode() not in change_page.content
    assert api_key.expires_at is not None
