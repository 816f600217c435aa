"""Drill (a): PostgreSQL goes down hard and comes back while clients write.

Readiness must say so (503) and recover (200), and every write the API acknowledged must be in the
database afterwards; the notifications of every declared incident still reach the sink.
"""

import time

import pytest

from tests.drills.stack import ReadinessProbe, WriteStream
from tests.drills.tally import settled

pytestmark = pytest.mark.integration

STEADY_SECONDS = 4  # writes before the fault, and again after readiness is back
DOWN_SECONDS = 3


def test_postgres_restart_loses_no_acknowledged_write(drill_stack, http_sink, drill_report):
    stack = drill_stack
    cluster = stack.cluster
    stream = WriteStream(base_url=stack.base_url, api_key=stack.api_key, tag="drill-a").start()
    probe = ReadinessProbe(stack).start()
    try:
        time.sleep(STEADY_SECONDS)
        before = len(stream.snapshot())
        stopping_at = time.monotonic()
        cluster.stop(mode="immediate")  # as in a crash: no checkpoint, in-flight transactions cut off
        stopped_at = time.monotonic()
        time.sleep(DOWN_SECONDS)
        starting_at = time.monotonic()
        cluster.start()  # crash recovery replays the WAL
        restarted_at = time.monotonic()
        stack.wait_ready(timeout=60)
        back_at = time.monotonic()
        time.sleep(STEADY_SECONDS)
    finally:
        stream.stop()
        probe.stop()
    drill_report(
        f"(a) wrote for {STEADY_SECONDS} s ({before} writes), stopped PostgreSQL (immediate, "
        f"{stopped_at - stopping_at:.1f} s), kept it down {DOWN_SECONDS} s, started it (crash recovery, "
        f"{restarted_at - starting_at:.1f} s), readiness 200 again {back_at - restarted_at:.1f} s after the "
        f"restart, wrote for {STEADY_SECONDS} s more"
    )
    drill_report(f"(a) /health/ready answers in order (status × count): {probe.runs()}")

    counted = settled(stack, stream, http_sink, timeout=60)
    gone = [p.name for p in stack.processes if not p.alive()]
    for line in counted.lines():
        drill_report(f"(a) {line}")

    assert not gone, f"programs that did not survive the fault: {gone}"
    readiness = [status for _, status in probe.answers]
    first_down = readiness.index(503) if 503 in readiness else None
    assert first_down is not None and 200 in readiness[:first_down], "readiness never went from 200 to 503"
    assert readiness[-1] == 200 and 200 in readiness[first_down:], "readiness did not come back to 200"
    assert set(readiness) <= {200, 503}, "readiness answered something other than 200 or 503"
    assert counted.writes_refused > 0, "no write was refused: the fault never reached the clients"
    assert 500 not in counted.statuses, "a write was a 500: during an outage the API answers 503 and Retry-After"
    assert counted.incidents_found == counted.incidents_acknowledged > 0
    assert counted.alerts_stored == counted.alerts_applied == counted.alerts_acknowledged > 0
    assert counted.notifications == counted.incidents_in_database
    assert counted.notifications_delivered == counted.notifications
    assert counted.delivered_attempts_max == 1
    assert counted.sink_missing_keys == counted.sink_unknown_keys == 0
