"""Thin Celery tasks: an id in, a service call, a short result out."""

from datetime import timedelta

from celery import shared_task

from governance.jobs import scheduled_job

from . import services


# acks_late: a worker lost mid-delivery leaves the message for redelivery; the claim
# in notification_deliver makes a second run harmless.
@shared_task(name="alerting.deliver_notification", acks_late=True, ignore_result=True)
def deliver_notification(notification_id: int) -> str:
    return services.notification_deliver(notification_id=notification_id)


@shared_task(name="alerting.escalation_step", acks_late=True, ignore_result=True)
def escalation_step(escalation_id: int, step_index: int) -> str:
    return services.escalation_advance(escalation_id=escalation_id, step_index=step_index)


@scheduled_job("alerting.notification_sweeper", every=timedelta(seconds=30))
def notification_sweeper() -> str:
    """Re-dispatches pending notifications whose task was lost (broker outage, killed worker)."""
    return f"{services.notifications_sweep()} notification(s) re-dispatched"


@scheduled_job("alerting.escalation_sweeper", every=timedelta(minutes=1))
def escalation_sweeper() -> str:
    """Fires escalation steps whose scheduled task was lost."""
    return f"{services.escalations_sweep()} escalation step(s) fired"


@scheduled_job(
    "alerting.coverage_check", every=timedelta(days=1), expected_every=timedelta(days=1), run_at_install=True
)
def coverage_check() -> str:
    """Flags on-call gaps in the next 14 days for every team a SEV1 route pages."""
    return services.coverage_check()
