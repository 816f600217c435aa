"""Backups fixtures: a target, people in each role, a routed sink for backup events."""

import pytest

from governance.choices import Role
from tests.factories import ServiceFactory, person

BACKUP_EVENTS = ["backup.failed", "backup.rpo_breached", "drill.failed", "drill.overdue"]


@pytest.fixture
def ops_admin(db):
    return person("ops.admin", Role.OPS_ADMIN)


@pytest.fixture
def second_admin(db):
    return person("ops.second", Role.OPS_ADMIN)


@pytest.fixture
def auditor(db):
    return person("auditor", Role.AUDITOR)


@pytest.fixture
def service(db):
    return ServiceFactory(slug="payments-db", name="Payments DB")


@pytest.fixture
def make_target(service):
    from backups.services import backup_target_create

    def make(slug="payments-db", **fields):
        values = {"name": slug.replace("-", " ").title(), "kind": "postgresql", "rpo_minutes": 60, "rto_minutes": 30}
        values.update(fields)
        return backup_target_create(slug=slug, service=values.pop("service", service), **values)

    return make


@pytest.fixture
def target(make_target):
    return make_target()


@pytest.fixture
def backup_sink(http_sink, settings):
    """A generic webhook on the local sink, routed every backup event."""
    from alerting.services import channel_create, routing_rule_create

    settings.ALERT_ALLOW_PRIVATE_URLS = True
    settings.ALERT_DELIVERY_BACKOFF_BASE = 0
    channel = channel_create(name="sink", kind="generic_webhook", url=f"{http_sink.url}/hook")
    routing_rule_create(name="Backups to the sink", event_types=BACKUP_EVENTS, channels=[channel])
    return channel


def notifications(event_type: str | None = None):
    from alerting.models import Notification

    qs = Notification.objects.all()
    return list(qs.filter(event_type=event_type) if event_type else qs)
