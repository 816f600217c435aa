"""Incidents fixtures: people in each role, an incident in each state, the alerting sink."""

import pytest

from governance.choices import Role
from incidents import services
from tests.factories import ServiceFactory, person

from .factories import IncidentFactory


@pytest.fixture(autouse=True)
def _no_drain_queued():
    """The drain flag lives in the shared cache (Redis in CI): every test starts without one."""
    from django.core.cache import cache

    from incidents.services import alertmanager

    cache.delete(alertmanager.DRAIN_QUEUED_KEY)
    alertmanager._last_drain_ask = -alertmanager.DRAIN_ASK_INTERVAL  # as if this process never asked
    yield
    cache.delete(alertmanager.DRAIN_QUEUED_KEY)


@pytest.fixture
def commander(db):
    return person("commander", Role.INCIDENT_COMMANDER)


@pytest.fixture
def responder(db):
    return person("responder", Role.RESPONDER)


@pytest.fixture
def auditor(db):
    return person("auditor", Role.AUDITOR)


@pytest.fixture
def service(db):
    return ServiceFactory(slug="checkout-api", name="Checkout API")


@pytest.fixture
def incident(commander, service):
    return IncidentFactory(service=service, commander=commander, declared_by=commander)


@pytest.fixture
def acknowledged(incident, commander):
    return services.incident_acknowledge(incident=incident, actor=commander)


@pytest.fixture
def resolved(acknowledged, commander):
    return services.incident_resolve(incident=acknowledged, actor=commander)


def publish_postmortem(incident, actor=None):
    from incidents.models import Postmortem

    postmortem = Postmortem.objects.filter(incident=incident).first() or services.postmortem_create(
        incident=incident, actor=actor
    )
    services.postmortem_update(postmortem=postmortem, summary="What happened.", impact="Who hurt.", root_cause="Why.")
    services.postmortem_submit(postmortem=postmortem, actor=actor)
    return services.postmortem_publish(postmortem=postmortem, actor=actor)


@pytest.fixture
def sink_channel(http_sink, settings):
    """A generic webhook on the local sink, routed every incident event, escalating to itself."""
    from alerting.services import channel_create, escalation_policy_create, routing_rule_create

    settings.ALERT_ALLOW_PRIVATE_URLS = True
    settings.ALERT_DELIVERY_BACKOFF_BASE = 0
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 3
    settings.ALERT_DELIVERY_TIMEOUT = 2.0
    channel = channel_create(name="sink", kind="generic_webhook", url=f"{http_sink.url}/hook")
    policy = escalation_policy_create(
        name="Page the sink", steps=[{"target": "channel", "channel": channel, "wait_minutes": 0}]
    )
    routing_rule_create(
        name="Incidents to the sink",
        event_types=[
            "incident.declared",
            "incident.acknowledged",
            "incident.ack_breached",
            "incident.escalated",
            "incident.resolved",
            "incident.update_due",
            "postmortem.due",
            "action_item.overdue",
        ],
        channels=[channel],
        escalation_policy=policy,
    )
    return channel


def deliver_pending() -> int:
    """Run alerting's delivery for every pending notification, as its worker would."""
    from alerting.models import Notification
    from alerting.services import notification_deliver

    ids = list(Notification.objects.filter(status="pending").order_by("pk").values_list("pk", flat=True))
    for pk in ids:
        notification_deliver(notification_id=pk)
    return len(ids)


def sink_events(http_sink) -> list[str]:
    return [request.json()["event"] for request in http_sink.received()]
