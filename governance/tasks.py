from datetime import timedelta

from django.utils import timezone

from .jobs import scheduled_job


@scheduled_job("governance.heartbeat", every=timedelta(minutes=1))
def heartbeat() -> str:
    """Proves beat, broker, worker and database work together: its ledger entry is the proof."""
    return f"alive at {timezone.now().isoformat(timespec='seconds')}"
