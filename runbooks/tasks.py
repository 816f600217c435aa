"""Thin scheduled jobs: each run is recorded in the kernel's job ledger."""

from datetime import timedelta

from governance.jobs import scheduled_job

from . import services


@scheduled_job("runbooks.procedures", every=timedelta(minutes=5), expected_every=timedelta(minutes=15))
def procedures() -> str:
    """Creates the executions of scheduled procedures that fell due; flags and escalates overdue ones."""
    created = services.procedures_create_due()
    overdue = services.procedures_flag_overdue()
    return f"{created} procedure execution(s) created, {overdue} flagged overdue"


@scheduled_job("runbooks.review_reminders", every=timedelta(hours=1), expected_every=timedelta(hours=3))
def review_reminders() -> str:
    """Reminds owners of runbook reviews falling due within 14 days, and again once overdue."""
    return f"{services.reviews_remind()} runbook(s) reminded of their review"
