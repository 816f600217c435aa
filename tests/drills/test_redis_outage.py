"""Drill (b): Redis (broker and cache) is shut down for 30 s while clients write, then started empty.

The API must keep answering; the notifications of incidents declared meanwhile wait in the database
and are all delivered once Redis is back, each idempotency key exactly once at the sink.
"""

import time

import pytest

from tests.drills.stack import ReadinessProbe, WriteStream
from tests.drills.tally import settled

pytestmark = pytest.mark.integration

STEADY_SECONDS = 4
OUTAGE_SECONDS = 30


def test_redis_outage_delays_notifications_but_loses_and_doubles_none(drill_stack, http_sink, drill_report):
    stack = drill_stack
    stream = WriteStream(base_url=stack.base_url, api_key=stack.api_key, tag="drill-b").start()
    probe = ReadinessProbe(stack).start()
    try:
        time.sleep(STEADY_SECONDS)
        before = len(stream.snapshot())
        received_before = len(http_sink.received())
        stack.redis.stop()  # nothing saved: queued tasks and cached keys are gone, as after a crash
        stopped_at = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        during = [w for w in stream.snapshot() if w.at >= stopped_at]
        received_during = len(http_sink.received()) - received_before
        waiting = stack.scalar("SELECT count(*) FROM alerting_notification WHERE status = 'pending'")
        stack.redis.start()
        restarted_at = time.monotonic()
        time.sleep(STEADY_SECONDS)
    finally:
        stream.stop()
        probe.stop()
    drill_report(
        f"(b) wrote for {STEADY_SECONDS} s ({before} writes), stopped Redis for {restarted_at - stopped_at:.1f} s "
        f"({len(during)} writes meanwhile, {sum(w.acknowledged for w in during)} acknowledged; the sink got "
        f"{received_during} requests; {waiting} notifications waiting when Redis came back), wrote for "
        f"{STEADY_SECONDS} s more"
    )
    drill_report(f"(b) /health/ready answers in order (status × count): {probe.runs()}")

    counted = settled(stack, stream, http_sink, timeout=90)
    gone = [p.name for p in stack.processes if not p.alive()]
    delivered_at = time.monotonic()
    for line in counted.lines():
        drill_report(f"(b) {line}")
    drill_report(f"(b) every notification delivered {delivered_at - restarted_at:.1f} s after Redis came back")

    assert during and all(w.acknowledged for w in during), "the API refused writes while Redis was down"
    assert waiting > 0, "no notification waited: the outage never reached the outbox"
    assert not gone, f"programs that did not survive the fault: {gone}"
    readiness = [status for _, status in probe.answers]
    assert 503 in readiness and readiness[-1] == 200, "readiness did not report the broker outage and recovery"
    assert counted.writes_refused == 0
    assert counted.incidents_found == counted.incidents_acknowledged > 0
    assert counted.alerts_stored == counted.alerts_applied == counted.alerts_acknowledged > 0
    assert counted.notifications == counted.incidents_in_database
    assert counted.notifications_delivered == counted.notifications
    assert counted.delivered_attempts_max == 1
    assert counted.sink_keys == counted.notifications, "a notification never reached the sink"
    assert counted.sink_duplicates == 0, "a notification reached the sink twice"
    assert counted.sink_missing_keys == counted.sink_unknown_keys == 0
