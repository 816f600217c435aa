"""The RPO monitor: a breach opens once (one notification, optionally an incident) and clears once."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record

from ..models import BackupRun, BackupTarget, RpoBreach
from ..notifications import notify_target


def rpo_deadline(target: BackupTarget) -> dt.datetime:
    """When the target breaches if nothing newer arrives: newest good backup (or creation) + RPO."""
    return (target.last_success_at or target.created_at) + target.rpo


def _describe_age(target: BackupTarget, now: dt.datetime) -> str:
    if target.last_success_at is None:
        return f"no successful backup since it was declared {_span(now - target.created_at)} ago"
    return f"last good backup {_span(now - target.last_success_at)} ago"


def _span(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 72 else f"{hours // 24} d"


@transaction.atomic
def rpo_check_target(*, target: BackupTarget | int, now: dt.datetime | None = None) -> str:
    """Open or clear the target's breach as its freshness says. Returns "breached", "cleared" or "ok"."""
    now = now or timezone.now()
    pk = target.pk if isinstance(target, BackupTarget) else target
    target = (
        BackupTarget.objects.select_for_update(of=("self",))
        .select_related("service", "service__owner_team", "owner_team")
        .get(pk=pk)
    )
    open_breach = RpoBreach.objects.filter(target=target, cleared_at__isnull=True).first()
    in_breach = target.enabled and now > rpo_deadline(target)
    if in_breach and open_breach is None:
        _open_breach(target, now)
        return "breached"
    if not in_breach and open_breach is not None:
        _clear(target, open_breach, now=now, run=None)
        return "cleared"
    return "ok"


def _open_breach(target: BackupTarget, now: dt.datetime) -> RpoBreach:
    breach = RpoBreach.objects.create(target=target, detected_at=now, newest_success_at=target.last_success_at)
    target.rpo_breached_since = now
    target.save(update_fields=["rpo_breached_since", "updated_at"])
    audit_record(
        action="backup_target.rpo_breached",
        obj=target,
        changes={"rpo_breached_since": [None, now], "last_success_at": [target.last_success_at, None]},
    )
    age = _describe_age(target, now)
    notify_target(
        target,
        "backup.rpo_breached",
        key=f"breach:{breach.pk}",
        subject=f"{target.name}: RPO {target.rpo_minutes} min breached",
        body=f"{target.name}: {age}, RPO {target.rpo_minutes} min.",
        severity=target.incident_severity,
        obj=target,
        data={
            "breach": breach.pk,
            "last_success_at": target.last_success_at.isoformat() if target.last_success_at else None,
        },
    )
    if target.open_incident_on_breach:
        from incidents.choices import IncidentSource
        from incidents.services import incident_declare_or_get

        incident, _ = incident_declare_or_get(
            dedup_key=f"backup-rpo:{target.slug}",
            title=f"Backups of {target.name} are stale (RPO {target.rpo_minutes} min breached)",
            severity=target.incident_severity,
            service=target.service,
            summary=f"{age}. Raised by Vigil's RPO monitor.",
            source=IncidentSource.ALERT,
        )
        breach.incident = incident
        breach.save(update_fields=["incident", "updated_at"])
    return breach


def _clear(target: BackupTarget, breach: RpoBreach, *, now: dt.datetime, run: BackupRun | None) -> None:
    breach.cleared_at = now
    breach.cleared_by_run = run
    breach.save(update_fields=["cleared_at", "cleared_by_run", "updated_at"])
    target.rpo_breached_since = None
    target.save(update_fields=["rpo_breached_since", "updated_at"])
    audit_record(
        action="backup_target.rpo_cleared",
        obj=target,
        changes={"rpo_breached_since": [breach.detected_at, None], "cleared_by_run": [None, run.pk if run else None]},
    )


def rpo_clear_if_fresh(*, target: BackupTarget, run: BackupRun, now: dt.datetime | None = None) -> bool:
    """A fresh run clears an open breach at once (the clearing names the run). Call with the target locked."""
    now = now or timezone.now()
    breach = RpoBreach.objects.filter(target=target, cleared_at__isnull=True).first()
    if breach is None or now > rpo_deadline(target):
        return False
    _clear(target, breach, now=now, run=run)
    return True


def rpo_monitor(*, now: dt.datetime | None = None) -> dict:
    """Check every enabled target and every open breach. Returns counts."""
    now = now or timezone.now()
    counts = {"breached": 0, "cleared": 0, "ok": 0}
    ids = set(BackupTarget.objects.filter(enabled=True).values_list("pk", flat=True))
    ids |= set(RpoBreach.objects.filter(cleared_at__isnull=True).values_list("target_id", flat=True))
    for pk in sorted(ids):
        counts[rpo_check_target(target=pk, now=now)] += 1
    return counts
