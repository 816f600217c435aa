"""Alertmanager ingestion: store the raw payload in the request; process it in a task."""

import json
import logging
import time
from datetime import timedelta

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from governance.audit import audit_record
from governance.models import UNASSIGNED_SERVICE_SLUG, Service

from .. import events
from ..choices import OPEN_STATUSES, AlertStatus, IncidentSource
from ..ingest import ParsedPayload, group_dedup_key, parse_payload, service_slug_for, severity_for
from ..models import Alert, AlertmanagerPayload, Incident
from .incidents import incident_declare_or_get

logger = logging.getLogger(__name__)
# After this many failed attempts a payload is left for a person (it stays visible in the admin).
MAX_ATTEMPTS = 5


# While this key exists a drain task is queued or running: a burst of payloads costs one
# publish, not one each. It expires on its own, so a lost task only delays (the sweeper acts first).
DRAIN_QUEUED_KEY = "incidents:alertmanager:drain-queued"
DRAIN_QUEUED_TTL = 60
DRAIN_BATCH = 500
# Each web process asks for a drain at most once a second, so in a burst a request is one
# INSERT and nothing else. A drain that found work looks again DRAIN_TAIL_SECONDS later,
# which picks up payloads whose request skipped the ask: they wait about two seconds at most.
DRAIN_ASK_INTERVAL = 1.0
DRAIN_TAIL_SECONDS = 1.0
_last_drain_ask = -DRAIN_ASK_INTERVAL  # this process's, time.monotonic()


def _queue_drain() -> None:
    global _last_drain_ask
    from ..tasks import drain_alertmanager_payloads

    now = time.monotonic()
    if now - _last_drain_ask < DRAIN_ASK_INTERVAL:
        return
    _last_drain_ask = now
    if cache.add(DRAIN_QUEUED_KEY, 1, timeout=DRAIN_QUEUED_TTL):
        drain_alertmanager_payloads.delay()


def alertmanager_payload_store(*, body: str, parsed: ParsedPayload) -> AlertmanagerPayload:
    """One INSERT (committed before the 202 goes out) and a drain task queued on commit."""
    payload = AlertmanagerPayload(
        received_at=timezone.now(), body=body, group_key=parsed.group_key, alert_count=len(parsed.alerts)
    )
    # The ingestion hot path: one plain INSERT, without the ORM's per-call query compilation.
    table = connection.ops.quote_name(AlertmanagerPayload._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (received_at, body, group_key, alert_count, attempts, error) "
            "VALUES (%s, %s, %s, %s, 0, '') RETURNING id",
            [payload.received_at, body, payload.group_key, payload.alert_count],
        )
        payload.pk = cursor.fetchone()[0]
    payload._state.adding = False
    # Outside a transaction this runs at once; a broker outage is logged, and the sweeper processes the row.
    transaction.on_commit(_queue_drain, robust=True)
    return payload


def _title(parsed: ParsedPayload, firing) -> str:
    first = firing[0]
    name = parsed.common_labels.get("alertname") or first.alertname or "Alert"
    summary = parsed.common_annotations.get("summary") or first.annotations.get("summary", "")
    return (f"{name}: {summary}" if summary else name)[:200]


def _summary(parsed: ParsedPayload, firing) -> str:
    lines = [f"Opened by Alertmanager (receiver {parsed.receiver or '?'})."]
    description = parsed.common_annotations.get("description") or firing[0].annotations.get("description")
    if description:
        lines.append(description)
    labels = parsed.common_labels or firing[0].labels
    lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())))
    if parsed.external_url:
        lines.append(f"Alertmanager: {parsed.external_url}")
    return "\n".join(lines)


def _service_for(parsed: ParsedPayload, firing) -> Service:
    slug = service_slug_for(parsed.common_labels or firing[0].labels)
    if slug == UNASSIGNED_SERVICE_SLUG and not parsed.common_labels:
        slug = service_slug_for(firing[0].labels)
    service = Service.objects.filter(slug=slug).first()
    if service is None:
        service, _ = Service.objects.get_or_create(
            slug=UNASSIGNED_SERVICE_SLUG, defaults={"name": "Unassigned", "tier": 3}
        )
    return service


def _apply(parsed: ParsedPayload, *, now) -> dict:
    counts = {"new": 0, "repeated": 0, "resolved": 0, "declared": 0}
    dedup_key = group_dedup_key(parsed.group_key)
    incident = Incident.objects.filter(dedup_key=dedup_key, status__in=OPEN_STATUSES).first()
    # Deduplicate within the payload too: the last word on an occurrence wins.
    by_key = {(a.fingerprint, a.starts_at): a for a in parsed.alerts}
    existing = {
        (alert.fingerprint, alert.starts_at): alert
        for alert in Alert.objects.select_for_update().filter(
            fingerprint__in={fp for fp, _ in by_key}, starts_at__in={s for _, s in by_key}
        )
    }
    new_firing = [a for key, a in by_key.items() if a.status == AlertStatus.FIRING and key not in existing]
    if new_firing and incident is None:
        # The group fired before and its incident was resolved: the new one is a recurrence of the latest.
        earlier = Incident.objects.filter(dedup_key=dedup_key).exclude(status__in=OPEN_STATUSES).order_by("-id").first()
        incident, created = incident_declare_or_get(
            dedup_key=dedup_key,
            recurrence_of=earlier,
            title=_title(parsed, new_firing),
            severity=min(severity_for(a.labels) for a in new_firing),
            service=_service_for(parsed, new_firing),
            summary=_summary(parsed, new_firing),
            source=IncidentSource.ALERT,
        )
        counts["declared"] += int(created)
    repeated = []
    for key, parsed_alert in by_key.items():
        alert = existing.get(key)
        if alert is None:
            alert = Alert.objects.create(
                incident=incident,
                fingerprint=parsed_alert.fingerprint,
                starts_at=parsed_alert.starts_at,
                ends_at=parsed_alert.ends_at,
                status=parsed_alert.status,
                alertname=parsed_alert.alertname,
                group_key=parsed.group_key,
                labels=parsed_alert.labels,
                annotations=parsed_alert.annotations,
                generator_url=parsed_alert.generator_url,
                first_seen_at=now,
                last_seen_at=now,
                resolved_at=now if parsed_alert.status == AlertStatus.RESOLVED else None,
            )
            if incident is not None:
                if parsed_alert.status == AlertStatus.FIRING:
                    events.alert_attached(incident, alert=alert)
                    counts["new"] += 1
                else:
                    events.alert_resolved(incident, alert=alert)
                    counts["resolved"] += 1
            continue
        if parsed_alert.status == AlertStatus.RESOLVED and alert.status == AlertStatus.FIRING:
            alert.status = AlertStatus.RESOLVED
            alert.ends_at = parsed_alert.ends_at or now
            alert.resolved_at = now
            alert.last_seen_at = now
            alert.save(update_fields=["status", "ends_at", "resolved_at", "last_seen_at"])
            if alert.incident_id is not None:
                events.alert_resolved(alert.incident, alert=alert)
            counts["resolved"] += 1
        else:
            repeated.append(alert.pk)
    if repeated:
        Alert.objects.filter(pk__in=repeated).update(last_seen_at=now)
        counts["repeated"] = len(repeated)
    if incident is not None:
        counts["incident"] = incident.reference
    return counts


def alertmanager_payload_process(*, payload: AlertmanagerPayload | int) -> str:
    """Apply one stored payload. Safe to run twice and concurrently (row lock, skip locked)."""
    pk = payload.pk if isinstance(payload, AlertmanagerPayload) else payload
    try:
        with transaction.atomic():
            row = (
                AlertmanagerPayload.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, processed_at__isnull=True)
                .first()
            )
            if row is None:
                return "already processed or in progress"
            now = timezone.now()
            parsed = parse_payload(json.loads(row.body))
            counts = _apply(parsed, now=now)
            row.processed_at = now
            row.attempts += 1
            row.error = ""
            row.save(update_fields=["processed_at", "attempts", "error"])
            audit_record(action="alertmanager.process", obj=row, changes={"result": [None, counts]})
    except Exception as exc:
        logger.exception("processing Alertmanager payload %s failed", pk)
        AlertmanagerPayload.objects.filter(pk=pk, processed_at__isnull=True).update(
            attempts=F("attempts") + 1, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def alertmanager_payloads_drain(*, limit: int = DRAIN_BATCH) -> tuple[int, int, bool]:
    """Process unprocessed payloads oldest first: (processed, failed, more left)."""
    from ..selectors import unprocessed_payload_ids

    processed = failed = 0
    seen: set[int] = set()
    while processed + failed < limit:
        batch = [pk for pk in unprocessed_payload_ids(now=timezone.now(), older_than=timedelta(0)) if pk not in seen]
        if not batch:
            return processed, failed, False
        for pk in batch[: limit - processed - failed]:
            seen.add(pk)
            try:
                alertmanager_payload_process(payload=pk)
                processed += 1
            except Exception:  # recorded on the row (attempts, error); the others still run
                failed += 1
    return processed, failed, True
