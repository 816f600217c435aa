from datetime import timedelta

from django.utils import timezone

from .jobs import scheduled_job


@scheduled_job("governance.heartbeat", every=timedelta(minutes=1))
def heartbeat() -> str:
    """Proves beat, broker, worker and database work together: its ledger entry is the proof."""
    return f"alive at {timezone.now().isoformat(timespec='seconds')}"


@scheduled_job("governance.audit_seal", every=timedelta(minutes=1))
def audit_seal() -> str:
    """Seals committed audit events into the hash chain (writers never wait for it)."""
    from .chain import audit_seal_all

    return f"{audit_seal_all()} event(s) sealed"


@scheduled_job("governance.audit_checkpoint", every=timedelta(hours=1), run_at_install=True)
def audit_checkpoint() -> str:
    """Signs the chain's head with the Ed25519 audit key."""
    from .chain import audit_checkpoint as sign_head
    from .chain import audit_seal_all

    audit_seal_all()
    checkpoint = sign_head()
    return f"checkpoint at seq {checkpoint.seq}" if checkpoint else "head already signed (or chain empty)"


class ChainBroken(RuntimeError):
    """The scheduled verification found a fault: the ledger records the run as failed."""


@scheduled_job("governance.audit_verify", every=timedelta(days=1), run_at_install=True)
def audit_verify() -> str:
    """Verifies the whole audit chain and every checkpoint; a fault raises audit.chain_broken."""
    from .chain import audit_verify as verify
    from .registries import notifiers

    report = verify()
    if report.ok:
        return f"{report.links} link(s) and {report.checkpoints} checkpoint(s) verified"
    fault = report.faults[0]
    for notify in notifiers:
        notify(
            event_type="audit.chain_broken",
            subject=f"Audit chain broken: {fault}",
            body="Run `manage.py audit_verify` for the full report.",
            idempotency_key=f"audit.chain_broken:{timezone.now():%Y-%m-%d}:{fault}"[:255],
            severity="SEV1",
        )
    raise ChainBroken(fault)


@scheduled_job("governance.scorecard_snapshot", every=timedelta(days=1), run_at_install=True)
def scorecard_snapshot() -> str:
    """Keeps this quarter's scorecard snapshot current; past quarters stay as they were."""
    from .scorecard import scorecard_snapshot as snapshot

    return f"{snapshot()} dimension(s) snapshotted"
