"""Delivery against a real local HTTP server standing in for Slack, PagerDuty and webhooks."""

import hashlib
import hmac

import pytest
from django.core import mail

from alerting.choices import AttemptOutcome, ChannelKind, EventType, NotificationStatus
from alerting.models import DeliveryAttempt, Notification
from alerting.services import notification_deliver, notify
from governance.choices import Severity
from tests.factories import ServiceFactory, TeamFactory

from .factories import ChannelFactory, RuleFactory

pytestmark = pytest.mark.django_db


def _send_through(channel, **kwargs):
    RuleFactory(channels=[channel], event_types=[EventType.INCIDENT_DECLARED, EventType.INCIDENT_RESOLVED])
    defaults = {
        "subject": "INC-12: Checkout is down",
        "idempotency_key": "INC-12:declared",
        "severity": Severity.SEV1,
        "dedup_key": "INC-12",
    }
    (row,) = notify(kwargs.pop("event_type", EventType.INCIDENT_DECLARED), **{**defaults, **kwargs})
    return row


def _deliver(row):
    return notification_deliver(notification_id=row.pk)


def _refresh(row):
    return Notification.objects.get(pk=row.pk)


# --- payloads ------------------------------------------------------------------------------------


def test_pagerduty_trigger_payload_is_events_v2(http_sink, pagerduty_channel):
    service = ServiceFactory(slug="checkout-api", owner_team=TeamFactory(slug="payments"))
    row = _send_through(
        pagerduty_channel,
        service=service,
        data={"customers": 120},
        links=[{"label": "Incident", "url": "https://vigil.example/admin/incidents/incident/12/"}],
    )
    _deliver(row)

    (request,) = http_sink.received()
    body = request.json()
    assert request.path == "/v2/enqueue"
    assert body["routing_key"] == "R0UTINGKEY"
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == "INC-12"
    assert body["payload"]["summary"] == "[SEV1] INC-12: Checkout is down"
    assert body["payload"]["severity"] == "critical"
    assert body["payload"]["source"] == "checkout-api"
    assert body["payload"]["component"] == "checkout-api"
    assert body["payload"]["custom_details"]["customers"] == 120
    assert body["payload"]["timestamp"] == row.context["occurred_at"]
    assert body["links"] == [{"href": "https://vigil.example/admin/incidents/incident/12/", "text": "Incident"}]


@pytest.mark.parametrize(("severity", "expected"), [("SEV1", "critical"), ("SEV2", "error"), ("SEV3", "warning")])
def test_pagerduty_severity_mapping(http_sink, pagerduty_channel, severity, expected):
    _deliver(_send_through(pagerduty_channel, severity=severity))
    assert http_sink.received()[0].json()["payload"]["severity"] == expected


def test_pagerduty_summary_is_cut_to_1024_characters(http_sink, pagerduty_channel):
    _deliver(_send_through(pagerduty_channel, subject="x" * 490, body="", dedup_key="INC-" + "9" * 600))
    assert len(http_sink.received()[0].json()["payload"]["summary"]) == 1024


def test_pagerduty_resolve_carries_no_payload(http_sink, pagerduty_channel):
    _deliver(_send_through(pagerduty_channel, action="resolve", event_type=EventType.INCIDENT_RESOLVED))
    body = http_sink.received()[0].json()
    assert body == {"routing_key": "R0UTINGKEY", "event_action": "resolve", "dedup_key": "INC-12"}


def test_slack_payload_has_summary_text_and_blocks_with_link(http_sink, slack_channel):
    _deliver(_send_through(slack_channel, links=[{"label": "Open incident", "url": "https://vigil.example/i/12"}]))
    body = http_sink.received()[0].json()
    assert body["text"] == "[SEV1] INC-12: Checkout is down"
    buttons = [e for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["url"] == "https://vigil.example/i/12"


def test_webhook_payload_and_hmac_signature_verify(http_sink, webhook_channel):
    row = _send_through(webhook_channel, data={"k": "v"})
    _deliver(row)

    (request,) = http_sink.received()
    body = request.json()
    assert set(body) == {"event", "occurred_at", "idempotency_key", "data"}
    assert body["event"] == "incident.declared"
    assert body["idempotency_key"] == row.key
    assert body["data"]["details"] == {"k": "v"}
    expected = "sha256=" + hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Vigil-Signature"] == expected


def test_webhook_without_secret_is_not_signed(http_sink, sink_settings):
    channel = ChannelFactory(url=f"{http_sink.url}/hook", headers="Authorization: Bearer abc")
    _deliver(_send_through(channel))
    headers = http_sink.received()[0].headers
    assert "X-Vigil-Signature" not in headers
    assert headers["Authorization"] == "Bearer abc"


def test_email_channel_uses_djangos_email_backend(sink_settings):
    channel = ChannelFactory(kind=ChannelKind.EMAIL, url="", addresses="ops@example.com, sre@example.com")
    _deliver(_send_through(channel))
    (message,) = mail.outbox
    assert message.to == ["ops@example.com", "sre@example.com"]
    assert "INC-12: Checkout is down" in message.subject


# --- retries and dead letters ----------------------------------------------------------------------


def test_success_marks_delivered_and_records_the_attempt(http_sink, webhook_channel):
    row = _send_through(webhook_channel)
    _deliver(row)
    row = _refresh(row)
    attempt = DeliveryAttempt.objects.get(notification=row)
    assert row.status == NotificationStatus.DELIVERED
    assert (attempt.outcome, attempt.status_code) == (AttemptOutcome.DELIVERED, 200)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_retryable_status_is_retried(http_sink, webhook_channel, status):
    http_sink.respond(status)
    row = _send_through(webhook_channel)
    _deliver(row)
    assert _refresh(row).status == NotificationStatus.PENDING
    _deliver(row)
    assert _refresh(row).status == NotificationStatus.DELIVERED
    assert len(http_sink.received()) == 2


def test_client_error_is_not_retried(http_sink, webhook_channel):
    http_sink.respond(400)
    row = _send_through(webhook_channel)
    _deliver(row)
    _deliver(row)
    row = _refresh(row)
    assert row.status == NotificationStatus.DEAD_LETTER
    assert len(http_sink.received()) == 1


def test_timeout_is_retried(http_sink, webhook_channel, sink_settings):
    sink_settings.ALERT_DELIVERY_TIMEOUT = 0.3
    http_sink.respond(200, delay=1.0)
    row = _send_through(webhook_channel)
    _deliver(row)
    attempt = DeliveryAttempt.objects.get(notification=row)
    assert attempt.outcome == AttemptOutcome.RETRY
    assert "timeout" in attempt.error
    _deliver(row)
    assert _refresh(row).status == NotificationStatus.DELIVERED


def test_connection_refused_is_retried(sink_settings):
    channel = ChannelFactory(url="http://127.0.0.1:9/closed")
    row = _send_through(channel)
    _deliver(row)
    assert DeliveryAttempt.objects.get(notification=row).outcome == AttemptOutcome.RETRY


def test_dead_letter_after_the_last_attempt(http_sink, webhook_channel):
    http_sink.respond(500, 500, 500, 500)
    row = _send_through(webhook_channel)
    for _ in range(4):
        _deliver(row)
    row = _refresh(row)
    assert row.status == NotificationStatus.DEAD_LETTER
    assert row.attempts == 3
    assert len(http_sink.received()) == 3
    assert list(row.attempt_log.values_list("outcome", flat=True)) == ["retry", "retry", "failed"]


def test_dead_letter_emits_a_dead_letter_event(http_sink, webhook_channel, sink_settings):
    ops = ChannelFactory(kind=ChannelKind.EMAIL, url="", addresses="ops@example.com")
    RuleFactory(event_types=[EventType.NOTIFICATION_DEAD_LETTER], channels=[ops])
    http_sink.respond(400)
    row = _send_through(webhook_channel)
    _deliver(row)
    (event,) = Notification.objects.filter(event_type=EventType.NOTIFICATION_DEAD_LETTER)
    assert event.channel == ops
    assert event.context["data"]["notification_id"] == row.pk


def test_backoff_grows_exponentially_with_jitter(settings):
    from alerting.services.notifications import backoff_seconds

    settings.ALERT_DELIVERY_BACKOFF_BASE = 10
    settings.ALERT_DELIVERY_BACKOFF_MAX = 1000
    delays = [backoff_seconds(n) for n in (1, 2, 3, 4)]
    assert 5 <= delays[0] <= 10
    assert 10 <= delays[1] <= 20
    assert 40 <= delays[3] <= 80


def test_not_yet_due_retry_is_skipped(http_sink, webhook_channel, sink_settings):
    sink_settings.ALERT_DELIVERY_BACKOFF_BASE = 60
    http_sink.respond(500)
    row = _send_through(webhook_channel)
    _deliver(row)
    assert _deliver(row) == "skipped"
    assert len(http_sink.received()) == 1


def test_delivered_notification_is_not_sent_twice(http_sink, webhook_channel):
    row = _send_through(webhook_channel)
    _deliver(row)
    assert _deliver(row) == "skipped"
    assert len(http_sink.received()) == 1


def test_private_url_is_refused_at_send_time_when_not_allowed(http_sink, webhook_channel, sink_settings):
    row = _send_through(webhook_channel)
    sink_settings.ALERT_ALLOW_PRIVATE_URLS = False
    _deliver(row)
    row = _refresh(row)
    assert row.status == NotificationStatus.DEAD_LETTER
    assert "private" in row.last_error
    assert http_sink.received() == []


def test_unexpected_error_costs_an_attempt_and_is_bounded(http_sink, webhook_channel, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("bug")

    monkeypatch.setattr("alerting.transport.payloads.render", broken)
    row = _send_through(webhook_channel)
    for _ in range(3):
        _deliver(row)
    row = _refresh(row)
    assert row.status == NotificationStatus.DEAD_LETTER
    assert "unexpected KeyError" in row.last_error


def test_payload_without_links_links_to_the_notification_in_the_admin(http_sink, slack_channel):
    row = _send_through(slack_channel)
    _deliver(row)
    buttons = [e for b in http_sink.received()[0].json()["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["url"].endswith(f"/admin/alerting/notification/{row.pk}/change/")
