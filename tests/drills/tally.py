"""What a drill counts once the dust has settled: the client's acknowledged writes against the database,
and the notifications the database says it sent against what the sink received."""

import time
from collections import Counter
from dataclasses import dataclass

from tests.conftest import HttpSink
from tests.drills.stack import VigilStack, WriteStream


@dataclass
class Tally:
    incidents_acknowledged: int
    incidents_found: int  # of the acknowledged ones, present in the database
    incidents_refused_but_stored: int  # answered non-2xx (or not at all) yet committed: harmless, told
    alerts_acknowledged: int
    alerts_stored: int  # of the acknowledged ones, their payload row is there
    alerts_applied: int  # of the acknowledged ones, the alert row the task makes from it is there
    writes_refused: int
    statuses: dict[int, int]
    incidents_in_database: int
    notifications: int  # rows (one per declared incident: the sink is routed `incident.declared`)
    notifications_delivered: int
    notifications_pending: int
    notifications_dead: int
    delivered_attempts_max: int  # most "delivered" attempts recorded for one notification (must be 1)
    sink_requests: int
    sink_keys: int  # distinct idempotency keys received
    sink_duplicates: int  # requests beyond the first for a key
    sink_unknown_keys: int  # received keys that no notification row has
    sink_missing_keys: int  # delivered rows whose key never arrived

    @property
    def writes_acknowledged(self) -> int:
        return self.incidents_acknowledged + self.alerts_acknowledged

    @property
    def writes_found(self) -> int:
        return self.incidents_found + self.alerts_applied

    def lines(self) -> list[str]:
        statuses = ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(self.statuses.items()))
        return [
            f"writes acknowledged {self.writes_acknowledged} (incidents {self.incidents_acknowledged}, "
            f"alert posts {self.alerts_acknowledged}); writes found {self.writes_found} (incidents "
            f"{self.incidents_found}, alerts stored {self.alerts_stored} and applied {self.alerts_applied}); "
            f"writes refused {self.writes_refused} (of them committed anyway: {self.incidents_refused_but_stored})",
            f"answers by status: {statuses}",
            f"notifications sent {self.notifications_delivered} of {self.notifications} rows for "
            f"{self.incidents_in_database} incidents (pending {self.notifications_pending}, dead "
            f"{self.notifications_dead}, most delivered attempts for one row {self.delivered_attempts_max}); "
            f"notifications received {self.sink_keys} distinct keys in {self.sink_requests} requests "
            f"(duplicates {self.sink_duplicates}, unknown {self.sink_unknown_keys}, missing {self.sink_missing_keys})",
        ]


def _sink_keys(sink: HttpSink) -> Counter:
    return Counter(request.json().get("idempotency_key") for request in sink.received())


def tally(stack: VigilStack, stream: WriteStream, sink: HttpSink) -> Tally:
    writes = stream.snapshot()
    tag = stream.tag
    acknowledged_titles = {w.marker for w in writes if w.kind == "incident" and w.acknowledged}
    refused_titles = {w.marker for w in writes if w.kind == "incident" and not w.acknowledged}
    acknowledged_alerts = {w.marker for w in writes if w.kind == "alert" and w.acknowledged}
    titles = {row[0] for row in stack.query("SELECT title FROM incidents_incident WHERE title LIKE %s", [f"{tag} %"])}
    group_keys = {row[0] for row in stack.query("SELECT group_key FROM incidents_alertmanagerpayload")}
    fingerprints = {row[0] for row in stack.query("SELECT fingerprint FROM incidents_alert")}
    rows = stack.query("SELECT key, status FROM alerting_notification WHERE event_type = 'incident.declared'")
    by_status = Counter(status for _, status in rows)
    attempts_max = stack.scalar(
        "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM alerting_deliveryattempt "
        "WHERE outcome = 'delivered' GROUP BY notification_id) AS per_row"
    )
    received = _sink_keys(sink)
    db_keys = {key for key, _ in rows}
    delivered_keys = {key for key, status in rows if status == "delivered"}
    return Tally(
        incidents_acknowledged=len(acknowledged_titles),
        incidents_found=len(acknowledged_titles & titles),
        incidents_refused_but_stored=len(refused_titles & titles),
        alerts_acknowledged=len(acknowledged_alerts),
        alerts_stored=sum(1 for fp in acknowledged_alerts if f'{{}}:{{drill="{fp}"}}' in group_keys),
        alerts_applied=len(acknowledged_alerts & fingerprints),
        writes_refused=sum(1 for w in writes if not w.acknowledged),
        statuses=dict(Counter(w.status for w in writes)),
        incidents_in_database=stack.scalar("SELECT count(*) FROM incidents_incident"),
        notifications=len(rows),
        notifications_delivered=by_status["delivered"],
        notifications_pending=by_status["pending"],
        notifications_dead=by_status["dead_letter"],
        delivered_attempts_max=attempts_max,
        sink_requests=sum(received.values()),
        sink_keys=len(received),
        sink_duplicates=sum(n - 1 for n in received.values()),
        sink_unknown_keys=len(set(received) - db_keys),
        sink_missing_keys=len(delivered_keys - set(received)),
    )


def settled(stack: VigilStack, stream: WriteStream, sink: HttpSink, *, timeout: float) -> Tally:
    """Waits (up to `timeout` s) until every acknowledged alert is applied and every notification delivered."""
    deadline = time.monotonic() + timeout
    while True:
        counted = tally(stack, stream, sink)
        done = (
            counted.alerts_applied == counted.alerts_acknowledged
            and counted.notifications == counted.incidents_in_database
            and counted.notifications_delivered == counted.notifications
            and counted.sink_missing_keys == 0
        )
        if done or time.monotonic() > deadline:
            return counted
        time.sleep(1)
