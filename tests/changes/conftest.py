"""Changes fixtures: people in each role (groups re-granted after transactional flushes), a service."""

import pytest

from governance.choices import Role
from tests.factories import ServiceFactory, person


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
