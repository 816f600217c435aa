import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from governance.models import AuditEvent, Service, Team

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_shows_the_password_once(capsys):
    call_command("seed_demo")
    first = capsys.readouterr().out
    counts = (get_user_model().objects.count(), Team.objects.count(), Service.objects.count())
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert (get_user_model().objects.count(), Team.objects.count(), Service.objects.count()) == counts
    assert "password: " in first
    assert "password: " not in second
    password = first.split("password: ", 1)[1].split()[0]
    assert get_user_model().objects.get(username="demo-admin").check_password(password)


def test_demo_catalog_writes_are_audited():
    call_command("seed_demo")
    assert AuditEvent.objects.filter(action="create", object_type="governance.service").count() == 6
