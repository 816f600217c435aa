"""The outbox: `notify()` writes rows in the caller's transaction; tasks deliver them after commit."""

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Prefetch, Q
from django.utils import timezone

from governance.audit import audit_record, jsonable
from governance.choices import Severity
from governance.errors import Conflict, ValidationFailed

from ..choices import AttemptOutcome, ChannelKind, EventType, NotificationStatus, PagerDutyAction
from ..models import Channel, ContactMethod, DeliveryAttempt, Notification
from ..selectors import matching_rules, notifications_due
from ..transport import SendResult, send

logger = logging.getLogger(__name__)

DELIVER_TASK = "alerting.deliver_notification"
CLAIM_MARGIN = timedelta(seconds=5)  # a claim outlives the HTTP timeouts by this much
EARLY_TOLERANCE = timedelta(seconds=1)  # a retry task arriving this early (clock skew) still sends
SWEEP_BATCH = 1000


@dataclass(frozen=True)
class Target:
    """One destination: a channel, or a person through a channel or an email address."""

    kind: str
    channel: Channel | None = None
    recipient: object = None
    to_address: str = ""

    @property
    def suffix(self) -> str:
        who = f"user:{self.recipient.pk}:" if self.recipient is not None else ""
        where = f"channel:{self.channel.pk}" if self.channel is not None else f"email:{self.to_address}"
        return who + where


def _validate(event_type: str, severity, action: str, idempotency_key: str, subject: str) -> None:
    fields = {}
    if event_type not in EventType.values:
        fields["event_type"] = [f"Unknown event type {event_type!r}."]
    if severity not in (None, "", *Severity.values):
        fields["severity"] = [f"Choose one of {', '.join(Severity.values)}."]
    if action not in PagerDutyAction.values:
        fields["action"] = [f"Choose one of {', '.join(PagerDutyAction.values)}."]
    if not idempotency_key or len(idempotency_key) > 255:
        fields["idempotency_key"] = ["Required, at most 255 characters."]
    if not subject or not subject.strip():
        fields["subject"] = ["Required."]
    if fields:
        raise ValidationFailed("The notification is not valid.", fields=fields)


def person_targets(user) -> list[Target]:
    """A person's contact methods in order; no methods: email to their user address."""
    methods = [m for m in user.contact_methods.all() if m.channel_id is None or m.channel.enabled]
    if not methods:
        return [Target(kind=ChannelKind.EMAIL, recipient=user, to_address=user.email)] if user.email else []
    targets = []
    for method in methods:
        if method.channel_id:
            targets.append(Target(kind=method.channel.kind, channel=method.channel, recipient=user))
        elif method.email or user.email:
            targets.append(Target(kind=ChannelKind.EMAIL, recipient=user, to_address=method.email or user.email))
    return targets


def _people_targets(users) -> list[Target]:
    users = [u for u in users or [] if u is not None]
    if not users:
        return []
    loaded = (
        get_user_model()
        .objects.filter(pk__in=[u.pk for u in users])
        .prefetch_related(
            Prefetch(
                "contact_methods", queryset=ContactMethod.objects.select_related("channel").order_by("position", "pk")
            )
        )
    )
    by_pk = {u.pk: u for u in loaded}
    targets = []
    for user in users:
        if user.pk in by_pk:
            targets.extend(person_targets(by_pk[user.pk]))
    return targets


def _context(*, event_type, subject, body, severity, service, team, links, data, dedup_key, action, now) -> dict:
    if team is None and service is not None and service.owner_team_id:
        team = service.owner_team
    return {
        "event": event_type,
        "occurred_at": now.isoformat(),
        "subject": subject.strip()[:500],
        "body": body or "",
        "severity": severity or None,
        "service": service.slug if service is not None else None,
        "service_name": service.name if service is not None else None,
        "team": team.slug if team is not None else None,
        "links": [{"label": str(link.get("label", "")), "url": str(link.get("url", ""))} for link in links or []],
        "data": jsonable(data or {}),  # datetimes, decimals and models become JSON-safe
        "dedup_key": dedup_key or None,
        "action": action,
    }


def write_notifications(
    *,
    event_type: str,
    idempotency_key: str,
    targets: list[Target],
    context: dict,
    escalation=None,
    checked: bool = False,
) -> list[Notification]:
    """Write one row per distinct target and queue their delivery after commit. Caller holds a transaction.

    `checked`: the caller has just looked for rows with this key (saves a query).
    """
    if not checked:
        existing = list(Notification.objects.filter(idempotency_key=idempotency_key).order_by("pk"))
        if existing:
            return existing
    seen: set[str] = set()
    rows = []
    now = timezone.now()
    limit = settings.ALERT_DELIVERY_MAX_ATTEMPTS
    for target in targets:
        key = f"{idempotency_key}|{target.suffix}"
        if key in seen:
            continue
        seen.add(key)
        ctx = {**context, "idempotency_key": key}
        if target.recipient is not None:
            ctx["recipient"] = target.recipient.get_full_name() or target.recipient.get_username()
        rows.append(
            Notification(
                key=key,
                idempotency_key=idempotency_key,
                created_at=now,
                event_type=event_type,
                severity=context.get("severity") or "",
                subject=context["subject"],
                kind=target.kind,
                channel=target.channel,
                recipient=target.recipient,
                to_address=target.to_address,
                escalation=escalation,
                context=ctx,
                next_attempt_at=now,
                attempt_limit=limit,
            )
        )
    if not rows:
        return []
    try:
        with transaction.atomic():
            Notification.objects.bulk_create(rows)
    except IntegrityError:
        # A concurrent call with the same key won the race: its rows are the answer.
        return list(Notification.objects.filter(idempotency_key=idempotency_key).order_by("pk"))
    audit_record(
        action="notify",
        object_type="alerting.notification",
        object_id=rows[0].pk,
        object_repr=f"{event_type}: {context['subject']}"[:200],
        changes={"idempotency_key": [None, idempotency_key], "notifications": [None, [r.pk for r in rows]]},
    )
    ids = [row.pk for row in rows]
    transaction.on_commit(lambda: dispatch(ids))
    return rows


def notify(
    event_type: str,
    *,
    subject: str,
    idempotency_key: str,
    body: str = "",
    severity: str | None = None,
    service=None,
    team=None,
    links: list[dict] | None = None,
    data: dict | None = None,
    dedup_key: str | None = None,
    action: str = "trigger",
    recipients=None,
) -> list[Notification]:
    """Notify whoever the routing rules (and `recipients`' contact methods) name.

    Call inside the caller's transaction: the rows commit or roll back with it, and
    delivery is queued on commit. The same `idempotency_key` again writes nothing and
    returns the rows of the first call.
    """
    _validate(event_type, severity, action, idempotency_key, subject)
    with transaction.atomic():
        existing = list(Notification.objects.filter(idempotency_key=idempotency_key).order_by("pk"))
        if existing:
            return existing
        targets: list[Target] = []
        for rule in matching_rules(event_type=event_type, severity=severity, service=service, team=team):
            targets.extend(Target(kind=c.kind, channel=c) for c in rule.channels.all() if c.enabled)
        targets.extend(_people_targets(recipients))
        context = _context(
            event_type=event_type,
            subject=subject,
            body=body,
            severity=severity,
            service=service,
            team=team,
            links=links,
            data=data,
            dedup_key=dedup_key,
            action=action,
            now=timezone.now(),
        )
        return write_notifications(
            event_type=event_type, idempotency_key=idempotency_key, targets=targets, context=context, checked=True
        )


# --- dispatch ---------------------------------------------------------------------------------------


def dispatch(notification_ids: list[int], *, countdown: float | None = None) -> int:
    """Queue delivery tasks. A broker outage is logged, not raised: the rows wait for the sweeper."""
    sent = 0
    for notification_id in notification_ids:
        try:
            current_app.send_task(DELIVER_TASK, args=[notification_id], countdown=countdown)
        except Exception as exc:  # kombu wraps every transport failure differently; the sweeper is the retry
            logger.warning(
                "broker unavailable, %d notification(s) left for the sweeper: %s",
                len(notification_ids) - sent,
                exc,
            )
            break
        sent += 1
    return sent


# --- delivery -------------------------------------------------------------------------------------


def backoff_seconds(attempt: int, *, retry_after: float | None = None) -> float:
    """Exponential backoff with equal jitter: half the step fixed, half random."""
    step = min(settings.ALERT_DELIVERY_BACKOFF_MAX, settings.ALERT_DELIVERY_BACKOFF_BASE * 2 ** (attempt - 1))
    delay = step / 2 + random.uniform(0, step / 2)  # noqa: S311  (jitter, not cryptography)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.ALERT_DELIVERY_BACKOFF_MAX))
    return delay


def notification_deliver(*, notification_id: int) -> str:
    """Send one notification once: claim it, send outside any transaction, record the attempt.

    Safe to run twice or concurrently: the claim is a conditional UPDATE, so only
    one worker sends; a delivered, dead or discarded row is left alone.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.ALERT_DELIVERY_TIMEOUT * 2) + CLAIM_MARGIN
    claimed = (
        Notification.objects.filter(
            pk=notification_id, status=NotificationStatus.PENDING, next_attempt_at__lte=now + EARLY_TOLERANCE
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + lease, attempts=F("attempts") + 1)
    )
    if not claimed:
        return "skipped"
    notification = Notification.objects.select_related("channel").get(pk=notification_id)
    started = timezone.now()
    result = send(notification)
    return _record(notification, result, started)


def _record(notification: Notification, result: SendResult, started: datetime) -> str:
    now = timezone.now()
    number = notification.attempts
    with transaction.atomic():
        pending = Notification.objects.filter(pk=notification.pk, status=NotificationStatus.PENDING)
        if result.ok:
            outcome = AttemptOutcome.DELIVERED
            pending.update(status=NotificationStatus.DELIVERED, delivered_at=now, claimed_until=None, last_error="")
        elif result.retryable and number < notification.attempt_limit:
            outcome = AttemptOutcome.RETRY
            delay = backoff_seconds(number, retry_after=result.retry_after)
            updated = pending.update(
                next_attempt_at=now + timedelta(seconds=delay), claimed_until=None, last_error=result.error
            )
            if updated:  # not discarded while we were sending
                notification_id = notification.pk
                transaction.on_commit(lambda: dispatch([notification_id], countdown=delay))
        else:
            outcome = AttemptOutcome.FAILED
            updated = pending.update(status=NotificationStatus.DEAD_LETTER, claimed_until=None, last_error=result.error)
            if updated:
                _announce_dead_letter(notification, result)
        DeliveryAttempt.objects.create(
            notification=notification,
            number=number,
            started_at=started,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            outcome=outcome,
            error=result.error,
        )
    return f"{outcome} (attempt {number}{f', HTTP {result.status_code}' if result.status_code else ''})"


def _announce_dead_letter(notification: Notification, result: SendResult) -> None:
    if notification.event_type == EventType.NOTIFICATION_DEAD_LETTER:
        return  # a dead letter about a dead letter would loop
    audit_record(
        action="dead_letter",
        obj=notification,
        changes={"status": [NotificationStatus.PENDING, NotificationStatus.DEAD_LETTER], "error": [None, result.error]},
    )
    ctx = notification.context
    notify(
        EventType.NOTIFICATION_DEAD_LETTER,
        subject=f"Notification not delivered: {notification.subject}"[:500],
        idempotency_key=f"dead-letter:{notification.pk}:{notification.attempts}",
        body=f"{notification.destination}: {result.error}"[:2000],
        severity=ctx.get("severity"),
        data={
            "notification_id": notification.pk,
            "event": notification.event_type,
            "destination": notification.destination,
            "attempts": notification.attempts,
            "last_error": result.error,
        },
    )


# --- operator actions and the sweeper ------------------------------------------------------------


@transaction.atomic
def notification_retry(*, notification: Notification) -> Notification:
    """Send a dead-lettered (or stuck pending) notification again, with a fresh attempt budget."""
    row = Notification.objects.select_for_update().get(pk=notification.pk)
    if row.status not in (NotificationStatus.DEAD_LETTER, NotificationStatus.PENDING):
        raise Conflict(f"A {row.get_status_display().lower()} notification cannot be retried.", code="not_retryable")
    before = row.status
    row.status = NotificationStatus.PENDING
    row.next_attempt_at = timezone.now()
    row.claimed_until = None
    row.swept_at = None
    row.attempt_limit = row.attempts + settings.ALERT_DELIVERY_MAX_ATTEMPTS
    row.save(update_fields=["status", "next_attempt_at", "claimed_until", "swept_at", "attempt_limit"])
    audit_record(action="retry", obj=row, changes={"status": [before, row.status]})
    transaction.on_commit(lambda: dispatch([row.pk]))
    return row


@transaction.atomic
def notification_discard(*, notification: Notification, reason: str) -> Notification:
    if not reason or not reason.strip():
        raise ValidationFailed("Say why the notification is discarded.", fields={"reason": ["Required."]})
    row = Notification.objects.select_for_update().get(pk=notification.pk)
    if row.status not in (NotificationStatus.DEAD_LETTER, NotificationStatus.PENDING):
        raise Conflict(
            f"A {row.get_status_display().lower()} notification cannot be discarded.", code="not_discardable"
        )
    before = row.status
    row.status = NotificationStatus.DISCARDED
    row.discard_reason = reason.strip()[:500]
    row.claimed_until = None
    row.save(update_fields=["status", "discard_reason", "claimed_until"])
    audit_record(
        action="discard", obj=row, changes={"status": [before, row.status], "reason": [None, row.discard_reason]}
    )
    return row


def notifications_sweep(*, now: datetime | None = None, grace: timedelta | None = None) -> int:
    """Re-dispatch pending rows whose task was lost (broker outage, killed worker). Returns how many."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.ALERT_SWEEP_GRACE_SECONDS) if grace is None else grace
    # One bounded batch per run; the next run takes the rest.
    ids = notifications_due(now=now, grace=grace, limit=SWEEP_BATCH)
    sent = dispatch(ids)
    if sent:
        Notification.objects.filter(pk__in=ids[:sent]).update(swept_at=now)
    return sent
