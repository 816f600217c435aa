"""Notification delivery attempts in the evidence bundle: every attempt, not only a count."""

import datetime as dt
import io
import json
import zipfile

import pytest
from django.utils import timezone

from alerting.choices import AttemptOutcome, EventType
from alerting.models import DeliveryAttempt
from alerting.registrations import export_delivery_attempts
from alerting.services import notification_deliver, notify
from governance.choices import Severity
from governance.evidence import export_evidence

from .factories import RuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def retried_notification(http_sink, webhook_channel):
    """A notification whose first attempt got a 500 and whose second was delivered."""
    RuleFactory(channels=[webhook_channel], event_types=[EventType.INCIDENT_DECLARED])
    (row,) = notify(
        EventType.INCIDENT_DECLARED,
        subject="INC-7: Checkout is down",
        idempotency_key="INC-7:declared",
        severity=Severity.SEV1,
    )
    http_sink.respond(500)
    notification_deliver(notification_id=row.pk)
    notification_deliver(notification_id=row.pk)
    return row


def _today_window():
    now = timezone.now()
    return now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)


def test_every_attempt_of_the_period_is_exported_in_order(retried_notification, webhook_channel):
    columns, rows = export_delivery_attempts(*_today_window())
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    assert [(r["number"], r["outcome"], r["status_code"]) for r in records] == [
        (1, AttemptOutcome.RETRY, 500),
        (2, AttemptOutcome.DELIVERED, 200),
    ]
    assert {r["notification"] for r in records} == {retried_notification.pk}
    assert {r["destination"] for r in records} == {webhook_channel.name}
    assert records[0]["event_type"] == EventType.INCIDENT_DECLARED


def test_attempts_outside_the_period_are_left_out(retried_notification):
    start, _ = _today_window()
    _columns, rows = export_delivery_attempts(start - dt.timedelta(days=1), start)
    assert list(rows) == []


def test_the_bundle_holds_the_attempt_rows(retried_notification):
    out = io.BytesIO()
    today = timezone.now().astimezone(dt.UTC).date()
    export_evidence(start=today, end=today, out=out)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as bundle:
        lines = bundle.read("alerting_delivery_attempts.jsonl").splitlines()
        manifest = json.loads(bundle.read("manifest.json"))
    attempts = [json.loads(line) for line in lines]
    assert [a["id"] for a in attempts] == list(
        DeliveryAttempt.objects.order_by("started_at", "pk").values_list("pk", flat=True)
    )
    assert len(attempts) == 2
    entry = next(f for f in manifest["files"] if f["path"] == "alerting_delivery_attempts.csv")
    assert entry["rows"] == 2
    assert "alerting_delivery_attempts.csv" in manifest["controls"]["SOC 2 CC7.3"]
