"""Thin Celery tasks: an id in, a service call, a short result out."""

from datetime import timedelta

from celery import shared_task
from django.db import IntegrityError, OperationalError
from django.utils import timezone

from governance.jobs import scheduled_job

from . import selectors, services


@shared_task(name="incidents.check_ack_deadline", ignore_result=True)
def check_ack_deadline(incident_id: int) -> str:
    """Scheduled with eta = ack_due_at at declaration; harmless if the incident was acknowledged."""
    breached = services.incident_record_ack_breach(incident=incident_id)
    return "breached" if breached else "nothing to do"


@shared_task(
    name="incidents.process_alertmanager_payload",
    ignore_result=True,
    autoretry_for=(IntegrityError, OperationalError),
    retry_backoff=2,
    max_retries=3,
)
def process_alertmanager_payload(payload_id: int) -> str:
    return services.alertmanager_payload_process(payload=payload_id)


@shared_task(name="incidents.drain_alertmanager_payloads", ignore_result=True)
def drain_alertmanager_payloads() -> str:
    """Queued after a payload is stored (at most one in flight); processes every waiting payload."""
    from django.core.cache import cache

    from .services.alertmanager import DRAIN_QUEUED_KEY, DRAIN_TAIL_SECONDS

    # Cleared first: a payload stored from now on queues a new drain, so none waits for the sweeper.
    cache.delete(DRAIN_QUEUED_KEY)
    processed, failed, more = services.alertmanager_payloads_drain()
    if more:
        drain_alertmanager_payloads.delay()
    elif processed or failed:
        # Requests skip their ask for a second after one (DRAIN_ASK_INTERVAL): look once more.
        drain_alertmanager_payloads.apply_async(countdown=DRAIN_TAIL_SECONDS)
    return f"{processed} payload(s) processed, {failed} failed"


@scheduled_job("incidents.ack_sweeper", every=timedelta(minutes=1))
def ack_sweeper() -> str:
    """Breach and escalate unacknowledged incidents whose deadline task was lost."""
    now = timezone.now()
    ids = list(selectors.open_incidents_past_ack(now=now).values_list("pk", flat=True)[: selectors.SWEEP_BATCH])
    breached = sum(services.incident_record_ack_breach(incident=pk, now=now, skip_locked=True) for pk in ids)
    return f"{breached} incident(s) breached"


@scheduled_job("incidents.update_reminders", every=timedelta(minutes=1))
def update_reminders() -> str:
    """Remind commanders whose status update is due."""
    now = timezone.now()
    ids = list(selectors.incidents_with_update_due(now=now).values_list("pk", flat=True)[: selectors.SWEEP_BATCH])
    sent = sum(services.incident_remind_update_due(incident=pk, now=now, skip_locked=True) for pk in ids)
    return f"{sent} update reminder(s)"


@scheduled_job("incidents.postmortem_reminders", every=timedelta(hours=1))
def postmortem_reminders() -> str:
    """`postmortem.due` for overdue postmortems, once a day each."""
    now = timezone.now()
    ids = list(selectors.postmortems_overdue(now=now).values_list("pk", flat=True)[: selectors.SWEEP_BATCH])
    sent = sum(services.postmortem_remind_due(postmortem=pk, now=now) for pk in ids)
    return f"{sent} postmortem reminder(s)"


@scheduled_job("incidents.action_item_reminders", every=timedelta(hours=1))
def action_item_reminders() -> str:
    """`action_item.overdue` for open action items past their due date, once a day each."""
    now = timezone.now()
    ids = list(selectors.action_items_overdue(now=now).values_list("pk", flat=True)[: selectors.SWEEP_BATCH])
    sent = sum(services.action_item_remind_overdue(item=pk, now=now) for pk in ids)
    return f"{sent} action item reminder(s)"


@scheduled_job("incidents.alertmanager_sweeper", every=timedelta(minutes=1))
def alertmanager_sweeper() -> str:
    """Process stored Alertmanager payloads whose task was lost (broker outage)."""
    processed = failed = 0
    for pk in selectors.unprocessed_payload_ids(now=timezone.now()):
        try:
            services.alertmanager_payload_process(payload=pk)
            processed += 1
        except Exception:  # recorded on the payload row; the next one still runs
            failed += 1
    return f"{processed} payload(s) processed, {failed} failed"
