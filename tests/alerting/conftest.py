"""Alerting fixtures: channels pointing at the local HTTP sink, fast retry settings."""

import pytest

from alerting.choices import ChannelKind

from .factories import ChannelFactory


@pytest.fixture
def sink_settings(settings):
    """Loopback URLs allowed (the sink listens on 127.0.0.1), no waiting between attempts."""
    settings.ALERT_ALLOW_PRIVATE_URLS = True
    settings.ALERT_DELIVERY_BACKOFF_BASE = 0
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 3
    settings.ALERT_DELIVERY_TIMEOUT = 1.0
    return settings


@pytest.fixture
def webhook_channel(http_sink, sink_settings):
    return ChannelFactory(kind=ChannelKind.GENERIC_WEBHOOK, url=f"{http_sink.url}/hook", signing_secret="s3cret")


@pytest.fixture
def slack_channel(http_sink, sink_settings):
    return ChannelFactory(kind=ChannelKind.SLACK_WEBHOOK, url=f"{http_sink.url}/slack")


@pytest.fixture
def pagerduty_channel(http_sink, sink_settings):
    return ChannelFactory(
        kind=ChannelKind.PAGERDUTY_EVENTS_V2, url=f"{http_sink.url}/v2/enqueue", routing_key="R0UTINGKEY", source=""
    )
