"""SLO fixtures: people in each role, a service, pushed-count helpers, a routed sink for slo.* events."""

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.factories import ServiceFactory

SLO_EVENTS = ["slo.burn_rate", "slo.budget_warning", "slo.budget_exhausted", "slo.evaluation_failed", "change.suspect"]


@pytest.fixture
def service(db):
    return ServiceFactory(slug="checkout-api", name="Checkout API")


@pytest.fixture
def pushed_slo(service):
    from slos.services import slo_save

    slo, _ = slo_save(
        slug="checkout-availability",
        name="Checkout availability",
        service=service,
        objective=Decimal("0.999"),
        window="28d",
        source_kind="pushed",
    )
    return slo


@pytest.fixture
def sink_channel(http_sink, settings):
    from alerting.services import channel_create, routing_rule_create

    settings.ALERT_ALLOW_PRIVATE_URLS = True
    settings.ALERT_DELIVERY_BACKOFF_BASE = 0
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 3
    settings.ALERT_DELIVERY_TIMEOUT = 2.0
    channel = channel_create(name="sink", kind="generic_webhook", url=f"{http_sink.url}/hook")
    routing_rule_create(name="SLOs to the sink", event_types=SLO_EVENTS, channels=[channel])
    return channel


def hourly_history(end, *, hours: int, total: int, bad: int) -> list[dict]:
    """One interval per hour for `hours` hours before `end` (end aligned on the hour)."""
    return [
        {
            "start": end - timedelta(hours=h + 1),
            "end": end - timedelta(hours=h),
            "good": total - bad,
            "total": total,
        }
        for h in range(hours)
    ]


def minutes(start, *, count: int, total: int, bad: int) -> list[dict]:
    return [
        {
            "start": start + timedelta(minutes=m),
            "end": start + timedelta(minutes=m + 1),
            "good": total - bad,
            "total": total,
        }
        for m in range(count)
    ]


def push(slo, intervals):
    from slos.services import slo_push_intervals

    result = {"created": 0, "updated": 0, "unchanged": 0}
    for i in range(0, len(intervals), 5000):
        for key, value in slo_push_intervals(slo=slo, intervals=intervals[i : i + 5000]).items():
            result[key] += value
    return result


def sent(event_type: str) -> int:
    from alerting.models import Notification

    return Notification.objects.filter(event_type=event_type).values("idempotency_key").distinct().count()
