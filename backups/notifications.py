"""The one place backups talk to `alerting`: backup.failed, backup.rpo_breached, drill.failed, drill.overdue."""

from governance.choices import Severity
from governance.links import admin_url

from .models import BackupTarget, RestoreDrill


def notify_target(
    target: BackupTarget,
    event_type: str,
    *,
    key: str,
    subject: str,
    body: str = "",
    severity: str = Severity.SEV2,
    obj=None,
    data: dict | None = None,
    action: str = "trigger",
) -> int:
    """Queue `event_type` about the target (delivered on commit); `key` makes it once-only."""
    from alerting.services import notify

    link = obj if obj is not None else target
    notifications = notify(
        event_type,
        subject=subject,
        idempotency_key=f"backups:{key}",
        body=body,
        severity=severity,
        service=target.service,
        team=target.owner_team or target.service.owner_team,
        links=[{"label": f"{link} in Vigil", "url": admin_url(link)}],
        data={
            "target": target.slug,
            "service": target.service.slug,
            "rpo_minutes": target.rpo_minutes,
            "rto_minutes": target.rto_minutes,
            "url": admin_url(link),
            **(data or {}),
        },
        dedup_key=f"backup-target:{target.slug}:{event_type.split('.')[0]}",
        action=action,
    )
    return len(notifications or [])


def notify_drill(drill: RestoreDrill, event_type: str, *, key: str, subject: str, body: str = "", severity=None) -> int:
    return notify_target(
        drill.target,
        event_type,
        key=key,
        subject=subject,
        body=body,
        severity=severity or Severity.SEV2,
        obj=drill,
        data={
            "drill": drill.pk,
            "status": drill.status,
            "measured_rto_seconds": drill.measured_rto_seconds,
            "achieved_rpo_seconds": drill.achieved_rpo_seconds,
            "failure_reason": drill.failure_reason,
        },
    )
