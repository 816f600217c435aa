"""Changes fixtures: people in each role (groups re-granted after transactional flushes), a service."""

import importlib

import pytest
from django.contrib.auth.models import Group, Permission

from governance.choices import Role
from tests.factories import ServiceFactory, UserFactory


def ensure_role(role: str) -> None:
    grants = {}
    for module in ("incidents.migrations.0002_policies_and_roles", "changes.migrations.0002_roles"):
        for name, perms in importlib.import_module(module).GRANTS.items():
            grants.setdefault(name, []).extend(perms)
    group, _ = Group.objects.get_or_create(name=str(role))
    for perm in grants.get(role, []):
        app_label, codename = perm.split(".", 1)
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def person(username: str, role: str | None = None, **fields):
    if role is None:
        return UserFactory(username=username, **fields)
    ensure_role(role)
    return UserFactory(username=username, roles=[role], **fields)


@pytest.fixture
def service(db):
    return ServiceFactory(slug="checkout-api", name="Checkout API")


@pytest.fixture
def change_manager(db):
    return person("cm", Role.CHANGE_MANAGER)


@pytest.fixture
def ops_admin(db):
    return person("ops", Role.OPS_ADMIN)


@pytest.fixture
def commander(db):
    return person("commander", Role.INCIDENT_COMMANDER)


@pytest.fixture
def implementer(db):
    return person("dev", Role.CHANGE_MANAGER)


@pytest.fixture
def sink_channel(http_sink, settings):
    """A generic webhook on the local sink, routed the change events."""
    from alerting.services import channel_create, routing_rule_create

    settings.ALERT_ALLOW_PRIVATE_URLS = True
    settings.ALERT_DELIVERY_BACKOFF_BASE = 0
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 3
    settings.ALERT_DELIVERY_TIMEOUT = 2.0
    channel = channel_create(name="sink", kind="generic_webhook", url=f"{http_sink.url}/hook")
    routing_rule_create(
        name="Changes to the sink", event_types=["change.suspect", "change.approval_due"], channels=[channel]
    )
    return channel
