"""Targets and runs: every write of a backup target or run goes through these functions."""

import datetime as dt
import re

from croniter import croniter
from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record, audit_update, diff, snapshot
from governance.choices import Severity
from governance.errors import NotFound, ValidationFailed
from governance.models import Service

from ..choices import RunKind, RunSource, RunStatus, TargetKind
from ..models import BackupRun, BackupTarget
from ..notifications import notify_target
from ..tools import RunReport, parse

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
TARGET_EDITABLE = (
    "name",
    "service",
    "kind",
    "owner",
    "owner_team",
    "description",
    "rpo_minutes",
    "rto_minutes",
    "expected_schedule",
    "retention_days",
    "drill_interval_days",
    "automated_drills",
    "canary_query",
    "canary_expected",
    "restore_runbook",
    "open_incident_on_breach",
    "incident_severity",
    "enabled",
)


def _validate_target(target: BackupTarget) -> None:
    fields = {}
    if target.expected_schedule and not croniter.is_valid(target.expected_schedule):
        fields["expected_schedule"] = ["Not a cron expression (five fields, e.g. '0 * * * *')."]
    if target.automated_drills and target.kind not in (TargetKind.POSTGRESQL, TargetKind.SQLITE):
        fields["automated_drills"] = ["Automated drills restore PostgreSQL and SQLite targets only."]
    if target.incident_severity not in Severity.values:
        fields["incident_severity"] = [f"Choose from: {', '.join(Severity.values)}."]
    if fields:
        raise ValidationFailed("The backup target is not valid.", fields=fields)


@transaction.atomic
def backup_target_create(
    *, slug: str, name: str, service: Service, kind: str, rpo_minutes: int, rto_minutes: int, **fields
) -> BackupTarget:
    unknown = sorted(set(fields) - set(TARGET_EDITABLE))
    if unknown:
        raise ValidationFailed(f"Unknown field(s): {', '.join(unknown)}.", fields={k: ["Unknown."] for k in unknown})
    target = BackupTarget(
        slug=slug, name=name, service=service, kind=kind, rpo_minutes=rpo_minutes, rto_minutes=rto_minutes, **fields
    )
    target.full_clean()
    _validate_target(target)
    target.save()
    audit_record(action="backup_target.create", obj=target, changes=diff({}, snapshot(target)))
    return target


@transaction.atomic
def backup_target_update(*, target: BackupTarget, **fields) -> BackupTarget:
    target = BackupTarget.objects.select_for_update().get(pk=target.pk)
    before = {name: getattr(target, name) for name in fields if name in TARGET_EDITABLE}
    for name, value in fields.items():
        if name in TARGET_EDITABLE:
            setattr(target, name, value)
    _validate_target(target)
    for name, value in before.items():
        setattr(target, name, value)
    audit_update(target, action="backup_target.update", editable=TARGET_EDITABLE, fields=fields, clean_exclude=[])
    return target


def target_by_slug(slug: str) -> BackupTarget:
    target = BackupTarget.objects.select_related("service", "service__owner_team", "owner_team").filter(slug=slug)
    found = target.first()
    if found is None:
        raise NotFound(f"No backup target {slug!r}.", fields={"target": [f"Unknown backup target {slug!r}."]})
    return found


def _validate_run(
    *,
    status: str,
    kind: str,
    started_at: dt.datetime | None,
    finished_at: dt.datetime | None,
    sha256: str,
    size_bytes: int | None,
) -> None:
    fields = {}
    if status not in RunStatus.values:
        fields["status"] = [f"Choose from: {', '.join(RunStatus.values)}."]
    if kind not in RunKind.values:
        fields["kind"] = [f"Choose from: {', '.join(RunKind.values)}."]
    if started_at is None:
        fields["started_at"] = ["Required."]
    elif timezone.is_naive(started_at):
        fields["started_at"] = ["Give a time zone offset."]
    if finished_at is not None and timezone.is_naive(finished_at):
        fields["finished_at"] = ["Give a time zone offset."]
    elif finished_at is not None and started_at is not None and finished_at < started_at:
        fields["finished_at"] = ["finished_at is before started_at."]
    if sha256 and not SHA256_RE.match(sha256):
        fields["sha256"] = ["A SHA-256 is 64 lowercase hexadecimal characters."]
    if size_bytes is not None and size_bytes < 0:
        fields["size_bytes"] = ["Must be zero or more."]
    if status == RunStatus.SUCCEEDED and finished_at is None and "finished_at" not in fields:
        fields["finished_at"] = ["Required when the run succeeded."]
    if fields:
        raise ValidationFailed("The backup run is not valid.", fields=fields)


REPORTED_FIELDS = (
    "status",
    "kind",
    "started_at",
    "finished_at",
    "recovery_point_at",
    "recovery_point_detail",
    "size_bytes",
    "sha256",
    "location",
    "tool",
    "manifest",
    "raw",
    "error",
)


@transaction.atomic
def backup_run_report(
    *,
    target: BackupTarget,
    status: str,
    started_at: dt.datetime,
    kind: str = RunKind.FULL,
    finished_at: dt.datetime | None = None,
    size_bytes: int | None = None,
    sha256: str = "",
    location: str = "",
    tool: str = "",
    external_id: str = "",
    raw: dict | None = None,
    manifest: dict | None = None,
    recovery_point_at: dt.datetime | None = None,
    recovery_point_detail: str = "",
    error: str = "",
    source: str = RunSource.API,
) -> tuple[BackupRun, str]:
    """Record a run; the same `external_id` again updates it. Returns (run, "created" | "updated" | "unchanged")."""
    sha256 = (sha256 or "").strip().lower()
    _validate_run(
        status=status, kind=kind, started_at=started_at, finished_at=finished_at, sha256=sha256, size_bytes=size_bytes
    )
    if status == RunStatus.SUCCEEDED and recovery_point_at is None:
        recovery_point_at = finished_at
    # Kept in UTC: the same instant reported again with another offset (restic prints local time) is no change.
    started_at, finished_at, recovery_point_at = (
        moment.astimezone(dt.UTC) if moment is not None else None
        for moment in (started_at, finished_at, recovery_point_at)
    )
    values = {
        "status": status,
        "kind": kind,
        "started_at": started_at,
        "finished_at": finished_at,
        "recovery_point_at": recovery_point_at,
        "recovery_point_detail": (recovery_point_detail or "")[:200],
        "size_bytes": size_bytes,
        "sha256": sha256,
        "location": (location or "")[:1000],
        "tool": (tool or "")[:40],
        "manifest": manifest or {},
        "raw": raw or {},
        "error": error or "",
    }
    # Lock the target: concurrent reports of one snapshot serialise here, and the freshness fields stay right.
    target = (
        BackupTarget.objects.select_for_update(of=("self",))
        .select_related("service", "service__owner_team")
        .get(pk=target.pk)
    )
    external_id = (external_id or "")[:200]
    run = BackupRun.objects.filter(target=target, external_id=external_id).first() if external_id else None
    if run is None:
        run = BackupRun(target=target, external_id=external_id, source=source, **values)
        run.save()
        audit_record(action="backup_run.report", obj=run, changes=diff({}, snapshot(run, ["external_id", *values])))
        outcome, before_status = "created", None
    else:
        before_status = run.status
        changes = audit_update(run, action="backup_run.update", editable=REPORTED_FIELDS, fields=values)
        outcome = "updated" if changes else "unchanged"
    if outcome != "unchanged":
        _after_run(target, run, before_status)
    return run, outcome


def _after_run(target: BackupTarget, run: BackupRun, before_status: str | None) -> None:
    from .rpo import rpo_clear_if_fresh

    if run.status == RunStatus.FAILED and before_status != RunStatus.FAILED:
        notify_target(
            target,
            "backup.failed",
            key=f"run:{run.pk}:failed",
            subject=f"Backup of {target.name} failed",
            body=run.error or f"{run.tool or 'The backup job'} reported a failed run ({run.external_id or run.pk}).",
            obj=run,
            data={"run": run.pk, "external_id": run.external_id, "tool": run.tool},
        )
    if run.status == RunStatus.SUCCEEDED and run.recovery_point_at is not None:
        if target.last_success_at is None or run.recovery_point_at > target.last_success_at:
            target.last_success_at = run.recovery_point_at
            target.save(update_fields=["last_success_at", "updated_at"])
        rpo_clear_if_fresh(target=target, run=run)


def backup_tool_report(*, target: BackupTarget, tool: str, data, source: str = RunSource.TOOL_REPORT) -> dict:
    """Runs from a tool's own output (see `backups.tools`): {"created", "updated", "unchanged"} counts."""
    reports: list[RunReport] = parse(tool, data)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with transaction.atomic():
        for report in sorted(reports, key=lambda r: r.started_at):
            _, outcome = backup_run_report(
                target=target,
                status=report.status,
                kind=report.kind,
                started_at=report.started_at,
                finished_at=report.finished_at,
                size_bytes=report.size_bytes,
                location=report.location,
                tool=tool,
                external_id=report.external_id,
                raw=report.raw,
                recovery_point_at=report.recovery_point_at,
                recovery_point_detail=report.recovery_point_detail,
                error=report.error,
                source=source,
            )
            counts[outcome] += 1
    return counts
