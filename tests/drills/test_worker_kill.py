"""Drill (c): the Celery worker is SIGKILLed in the middle of a batch of deliveries, and replaced.

A burst of Alertmanager posts becomes a batch of incidents (the drain task) and a batch of
notifications (one delivery task each) that a slow sink keeps the worker busy with. The worker
dies with deliveries in flight; a replacement worker (and the outbox sweeper beat drives) finish the
work. Every task's effect must be in the database exactly once: one alert row and one timeline
entry per alert, one incident per alert group, one recorded delivery per notification.

On the wire, a delivery the sink had received when the worker died is sent again (at least once, as
alerting/README.md says: the receiver de-duplicates on the idempotency key); any other second copy
is a fault.
"""

import time

import pytest
import requests

from tests.conftest import wait_for
from tests.drills.stack import DRILL_SERVICE, WriteStream, alertmanager_payload
from tests.drills.tally import settled

pytestmark = pytest.mark.integration

STEADY_SECONDS = 4
BURST = 30
SLOW_SINK_SECONDS = 0.4  # per delivery: two pool processes take ~6 s for the burst
WORKER_CONCURRENCY = 2
VISIBILITY_TIMEOUT = 10


def _post_burst(stack, count: int) -> list[str]:
    """`count` Alertmanager posts, each its own group; returns the acknowledged fingerprints."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {stack.api_key}"
    acknowledged = []
    for number in range(count):
        fingerprint = f"drill-c-burst-{number:03d}"
        body = alertmanager_payload(
            group=f'{{}}:{{drill="{fingerprint}"}}', fingerprint=fingerprint, service=DRILL_SERVICE
        )
        if session.post(f"{stack.base_url}/api/v1/alerts/alertmanager/", json=body, timeout=15).status_code == 202:
            acknowledged.append(fingerprint)
    return acknowledged


def test_worker_killed_mid_batch_leaves_every_effect_exactly_once(drill_stack, http_sink, drill_report):
    stack = drill_stack
    stream = WriteStream(base_url=stack.base_url, api_key=stack.api_key, tag="drill-c").start()
    try:
        time.sleep(STEADY_SECONDS)
        received_before = len(http_sink.received())
        http_sink.respond(*[200] * BURST, delay=SLOW_SINK_SECONDS)
        burst = _post_burst(stack, BURST)
        wait_for(
            lambda: len(http_sink.received()) >= received_before + BURST // 3,
            timeout=60,
            message=f"the worker never got going on the batch:\n{stack.logs()}",
        )
        stack.process("drill-worker-1").kill()
        killed_at = time.monotonic()
        received_at_kill = {request.json()["idempotency_key"] for request in http_sink.received()}
        delivered_at_kill = {
            key for (key,) in stack.query("SELECT key FROM alerting_notification WHERE status = 'delivered'")
        }
        in_flight = received_at_kill - delivered_at_kill  # the sink has them; the database does not know yet
        pending_at_kill = stack.scalar("SELECT count(*) FROM alerting_notification WHERE status = 'pending'")
        unapplied_at_kill = stack.scalar(
            "SELECT count(*) FROM incidents_alertmanagerpayload WHERE processed_at IS NULL"
        )
        replacement_env = {
            **stack.env,
            "DJANGO_SETTINGS_MODULE": "tests.drills.short_visibility_settings",
            "DRILL_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        }
        replacement = stack.start_worker("drill-worker-2", env=replacement_env)
        replaced_in = time.monotonic() - killed_at
        time.sleep(STEADY_SECONDS)
    finally:
        stream.stop()
    drill_report(
        f"(c) wrote for {STEADY_SECONDS} s, posted a burst of {len(burst)} alerts (one group each) with the sink "
        f"answering in {SLOW_SINK_SECONDS} s, SIGKILLed the worker (process group) with {pending_at_kill} "
        f"notifications pending, {len(in_flight)} in flight and {unapplied_at_kill} payloads unapplied; a "
        f"replacement worker (visibility timeout {VISIBILITY_TIMEOUT} s) was ready {replaced_in:.1f} s later"
    )

    counted = settled(stack, stream, http_sink, timeout=90)
    finished_in = time.monotonic() - killed_at
    for line in counted.lines():
        drill_report(f"(c) {line}")
    burst_applied = stack.scalar("SELECT count(*) FROM incidents_alert WHERE fingerprint = ANY(%s)", [burst])
    incidents_per_group = stack.scalar(
        "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM incidents_incident WHERE dedup_key <> '' "
        "GROUP BY dedup_key) AS per_group"
    )
    events_per_alert = stack.query(
        "SELECT count(*), count(DISTINCT data->>'fingerprint') FROM incidents_incidentevent "
        "WHERE kind = 'alert_attached'"
    )[0]
    alerts_in_database = stack.scalar("SELECT count(*) FROM incidents_alert")
    received = [request.json()["idempotency_key"] for request in http_sink.received()]
    resent = {key for key in received if received.count(key) > 1}
    skipped = replacement.log().count("'skipped'")
    gone = [p.name for p in stack.processes if p.name != "drill-worker-1" and not p.alive()]
    drill_report(
        f"(c) all done {finished_in:.1f} s after the kill; burst alerts applied {burst_applied} of {len(burst)}; "
        f"alerts {alerts_in_database}, timeline entries for them {events_per_alert[0]} "
        f"({events_per_alert[1]} distinct); most incidents for one alert group {incidents_per_group}; "
        f"sent again after the kill {len(resent)} (in flight at the kill {len(in_flight)}); "
        f"deliveries the replacement found done already (a redelivered or swept task): {skipped}"
    )

    assert not gone, f"programs that did not survive the kill: {gone}"
    assert pending_at_kill > 0, "the worker was not killed mid-batch: nothing was left to deliver"
    assert counted.incidents_found == counted.incidents_acknowledged > 0
    assert counted.alerts_applied == counted.alerts_acknowledged > 0
    assert burst_applied == len(burst) == BURST
    assert events_per_alert == (alerts_in_database, alerts_in_database), (
        "an alert's timeline entry is missing or doubled"
    )
    assert incidents_per_group == 1, "an alert group opened two incidents"
    assert counted.notifications == counted.incidents_in_database
    assert counted.notifications_delivered == counted.notifications
    assert counted.delivered_attempts_max == 1, "a notification was recorded as delivered twice"
    assert counted.sink_keys == counted.notifications
    assert resent <= in_flight, "a delivery that was not in flight at the kill reached the sink twice"
    assert len(in_flight) <= WORKER_CONCURRENCY
    assert counted.sink_missing_keys == counted.sink_unknown_keys == 0
