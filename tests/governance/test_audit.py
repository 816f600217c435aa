import sqlite3
import subprocess
import sys

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from governance.audit import audit_context, audit_record
from governance.models import AuditEvent, Service
from governance.services import service_update
from tests.conftest import ROOT
from tests.factories import ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    return audit_record(action="test", object_type="tests.thing", object_id="1")


def test_raw_update_of_an_audit_event_is_refused(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE governance_auditevent SET action = 'forged' WHERE id = %s", [event.pk])
    event.refresh_from_db()
    assert event.action == "test"


def test_raw_delete_of_an_audit_event_is_refused(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM governance_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_orm_delete_of_an_audit_event_is_refused(event):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_sqlite_guard_refuses_update_and_delete_even_from_a_plain_sqlite_client(tmp_path):
    """Runs whatever the suite's engine is: migrates a scratch SQLite file, then attacks it."""
    db = tmp_path / "guard.sqlite3"
    env_cmd = {"DATABASE_URL": f"sqlite:///{db}", "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    script = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        "from django.db import connection, DatabaseError\n"
        "from governance.audit import audit_record\n"
        "e = audit_record(action='test', object_type='x', object_id='1')\n"
        "for sql in ('UPDATE governance_auditevent SET action = \\'forged\\'', 'DELETE FROM governance_auditevent'):\n"
        "    try:\n"
        "        connection.cursor().execute(sql)\n"
        "    except DatabaseError as exc:\n"
        "        print('refused:', exc)\n"
    )
    import os

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={**os.environ, **env_cmd}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("refused:") == 2
    assert "append-only" in result.stdout

    plain = sqlite3.connect(db)  # no Django: the maintenance function is not even defined here
    for sql in ("UPDATE governance_auditevent SET action = 'forged'", "DELETE FROM governance_auditevent"):
        with pytest.raises(sqlite3.DatabaseError):
            plain.execute(sql)
    assert plain.execute("SELECT action FROM governance_auditevent").fetchall() == [("test",)]


def test_service_write_records_before_and_after_with_actor():
    user = UserFactory()
    service = ServiceFactory(tier=2)
    with audit_context(user=user, request_id="req-1"):
        service_update(service=service, tier=1)
    event = AuditEvent.objects.get(action="update", object_type="governance.service")
    assert event.changes == {"tier": [2, 1]}
    assert event.actor_user == user
    assert event.actor_label == user.username
    assert event.request_id == "req-1"


def test_editing_a_service_in_the_admin_records_old_and_new_value_and_user(client):
    admin = UserFactory(is_superuser=True)
    service = ServiceFactory(name="Checkout", tier=2)
    client.force_login(admin)
    url = reverse("admin:governance_service_change", args=[service.pk])
    response = client.post(
        url,
        {
            "name": "Checkout API",
            "slug": service.slug,
            "tier": 1,
            "owner_team": service.owner_team_id,
            "description": "",
            "links": "[]",
        },
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 302, response.content
    event = AuditEvent.objects.get(action="update", object_type="governance.service", object_id=str(service.pk))
    assert event.changes == {"name": ["Checkout", "Checkout API"], "tier": [2, 1]}
    assert event.actor_user_id == admin.pk
    assert event.ip_address == "10.1.2.3"
    assert len(event.request_id) == 32
    assert response["X-Request-ID"] == event.request_id


def test_adding_and_deleting_in_the_admin_are_audited(client):
    admin = UserFactory(is_superuser=True)
    client.force_login(admin)
    response = client.post(
        reverse("admin:governance_service_add"),
        {"name": "Search", "slug": "search", "tier": 2, "description": "", "links": "[]"},
    )
    assert response.status_code == 302
    service = Service.objects.get(slug="search")
    response = client.post(reverse("admin:governance_service_delete", args=[service.pk]), {"post": "yes"})
    assert response.status_code == 302
    actions = list(
        AuditEvent.objects.filter(object_type="governance.service", object_id=str(service.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["create", "delete"]


def test_admin_actions_are_audited_with_the_objects_they_touched(client, make_api_key):
    admin = UserFactory(is_superuser=True)
    issued = make_api_key("health:read")
    client.force_login(admin)
    response = client.post(
        reverse("admin:governance_apikey_changelist"),
        {"action": "revoke", "_selected_action": [issued.api_key.pk]},
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin_action:revoke")
    assert event.changes == {"objects": [issued.api_key.pk]}
    assert event.actor_user_id == admin.pk
    assert AuditEvent.objects.filter(action="revoke", object_id=str(issued.api_key.pk)).exists()


def test_audit_event_admin_is_read_only(client):
    admin = UserFactory(is_superuser=True)
    event = audit_record(action="test", object_type="x", object_id="1")
    client.force_login(admin)
    assert client.get(reverse("admin:governance_auditevent_changelist")).status_code == 200
    assert client.get(reverse("admin:governance_auditevent_add")).status_code == 403
    assert client.get(reverse("admin:governance_auditevent_delete", args=[event.pk])).status_code == 403
