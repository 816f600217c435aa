import json

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from governance.choices import Role
from governance.models import UNASSIGNED_SERVICE_SLUG, Service

pytestmark = pytest.mark.django_db


def test_every_role_of_the_contract_exists_as_a_group():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "Incident Commander",
        "Responder",
        "Access Reviewer",
        "Compliance Manager",
        "Auditor",
        "Ops Admin",
    }


def test_auditor_may_only_view():
    codenames = Group.objects.get(name=Role.AUDITOR).permissions.values_list("codename", flat=True)
    assert codenames
    assert all(code.startswith(("view_", "export_")) for code in codenames)


def test_ops_admin_configures_the_catalog_and_api_keys():
    perms = set(Group.objects.get(name=Role.OPS_ADMIN).permissions.values_list("codename", flat=True))
    assert {"add_service", "change_service", "add_team", "add_apikey", "change_periodictask"} <= perms
    assert "delete_auditevent" not in perms


def test_the_unassigned_service_exists():
    assert Service.objects.filter(slug=UNASSIGNED_SERVICE_SLUG).exists()


def test_a_user_without_a_role_sees_nothing_in_the_admin(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True))
    response = client.get("/admin/")
    assert response.status_code == 200
    assert response.context["app_list"] == []


def test_openapi_schema_is_valid(tmp_path):
    out = tmp_path / "schema.json"
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(out))
    schema = json.loads(out.read_text())
    assert schema["openapi"].startswith("3.")


def test_schema_and_docs_are_served_without_a_cdn(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_superuser=True))
    assert client.get("/api/schema/", HTTP_ACCEPT="application/json").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn.jsdelivr" not in docs.content
    assert b"swagger-ui" in docs.content
