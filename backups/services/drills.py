"""Restore drills: scheduled, started, restored, verified, signed off — and automated for databases.

Measured RTO = verified − started and achieved RPO = drill start − the backup's
recovery point are computed here from timestamps; nobody types them.
"""

import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record, diff, snapshot
from governance.choices import Severity
from governance.errors import Conflict, ValidationFailed

from .. import executors
from ..choices import (
    AUTOMATABLE_KINDS,
    DRILL_OVERDUE_AFTER_DAYS,
    OPEN_DRILL_STATUSES,
    DrillMode,
    DrillStatus,
    RunStatus,
    TargetKind,
)
from ..models import BackupRun, BackupTarget, DrillActionItem, DrillCheck, DrillEvidence, RestoreDrill
from ..notifications import notify_drill

DEFAULT_CANARY = "SELECT count(*) FROM django_migrations"
EVIDENCE_CHUNK = 1024 * 1024


def _actor(user):
    return user if getattr(user, "pk", None) else None


def locked_drill(drill: RestoreDrill | int) -> RestoreDrill:
    pk = drill.pk if isinstance(drill, RestoreDrill) else drill
    return (
        RestoreDrill.objects.select_for_update(of=("self",))
        .select_related("target", "target__service", "target__service__owner_team", "backup_run")
        .get(pk=pk)
    )


def newest_good_run(target: BackupTarget) -> BackupRun | None:
    return (
        BackupRun.objects.filter(target=target, status=RunStatus.SUCCEEDED)
        .order_by("-recovery_point_at", "-id")
        .first()
    )


@transaction.atomic
def drill_schedule(
    *, target: BackupTarget, scheduled_for: dt.datetime, mode: str | None = None, actor=None
) -> RestoreDrill:
    if mode is None:
        mode = DrillMode.AUTOMATED if target.automated_drills else DrillMode.MANUAL
    drill = RestoreDrill.objects.create(target=target, mode=mode, scheduled_for=scheduled_for, started_by=None)
    audit_record(action="drill.schedule", obj=drill, changes=diff({}, snapshot(drill)))
    return drill


@transaction.atomic
def drill_start(
    *,
    drill: RestoreDrill | int | None = None,
    target: BackupTarget | None = None,
    backup_run: BackupRun | None = None,
    mode: str = DrillMode.MANUAL,
    actor=None,
    now: dt.datetime | None = None,
) -> RestoreDrill:
    """Start a drill (a scheduled one, or a new one for `target`): the clock starts, objectives are copied."""
    now = now or timezone.now()
    if drill is not None:
        drill = locked_drill(drill)
        if drill.status not in (DrillStatus.SCHEDULED, DrillStatus.OVERDUE):
            raise Conflict(f"Drill #{drill.pk} is {drill.get_status_display().lower()}; it cannot start.")
        target = drill.target
    elif target is None:
        raise ValidationFailed("Give a drill or a target.", fields={"target": ["Required."]})
    else:
        drill = RestoreDrill(target=target, mode=mode)
    backup_run = backup_run or drill.backup_run or newest_good_run(target)
    if backup_run is None:
        raise ValidationFailed(
            f"{target.name} has no successful backup to restore.", fields={"backup_run": ["No successful run."]}
        )
    if backup_run.target_id != target.pk:
        raise ValidationFailed("The backup run belongs to another target.", fields={"backup_run": ["Other target."]})
    before = snapshot(drill) if drill.pk else {}
    drill.backup_run = backup_run
    drill.status = DrillStatus.RUNNING
    drill.started_at = now
    drill.started_by = _actor(actor)
    drill.rto_target_minutes = target.rto_minutes
    drill.rpo_target_minutes = target.rpo_minutes
    if backup_run.recovery_point_at is not None:
        drill.achieved_rpo_seconds = (now - backup_run.recovery_point_at).total_seconds()
        drill.rpo_met = drill.achieved_rpo_seconds <= target.rpo_minutes * 60
    if mode == DrillMode.MANUAL and drill.mode == DrillMode.MANUAL and drill.runbook_execution_id is None:
        _follow_runbook(drill, target, actor)
    drill.save()
    if _actor(actor):
        drill.participants.add(actor)
    audit_record(action="drill.start", obj=drill, changes=diff(before, snapshot(drill)))
    return drill


def _follow_runbook(drill: RestoreDrill, target: BackupTarget, actor) -> None:
    """A manual drill runs the target's restore runbook (its current published version) as an execution."""
    if target.restore_runbook_id is None:
        return
    from runbooks.models import Runbook

    runbook = Runbook.objects.select_related("current_version").filter(pk=target.restore_runbook_id).first()
    version = runbook.current_version if runbook is not None else None
    if version is None or not version.is_published:
        return
    from runbooks.choices import ExecutionPurpose
    from runbooks.services import execution_start

    drill.runbook_version = version
    drill.runbook_execution = execution_start(
        version=version, purpose=ExecutionPurpose.DRILL, actor=_actor(actor), notes=f"Restore drill of {target.name}"
    )


@transaction.atomic
def drill_mark_restored(*, drill: RestoreDrill | int, actor=None, now: dt.datetime | None = None) -> RestoreDrill:
    drill = locked_drill(drill)
    if drill.status != DrillStatus.RUNNING:
        raise Conflict(f"Drill #{drill.pk} is not running.")
    if drill.restored_at is None:
        drill.restored_at = now or timezone.now()
        drill.save(update_fields=["restored_at", "updated_at"])
        audit_record(action="drill.restored", obj=drill, changes={"restored_at": [None, drill.restored_at]})
    return drill


@transaction.atomic
def drill_add_check(
    *,
    drill: RestoreDrill | int,
    name: str,
    passed: bool | None,
    expected: str = "",
    actual: str = "",
    detail: str = "",
    actor=None,
    now: dt.datetime | None = None,
) -> DrillCheck:
    drill = locked_drill(drill) if not isinstance(drill, RestoreDrill) else drill
    if not (name or "").strip():
        raise ValidationFailed("A check needs a name.", fields={"name": ["Required."]})
    check = DrillCheck.objects.create(
        drill=drill,
        name=name.strip()[:120],
        passed=passed,
        expected=str(expected),
        actual=str(actual),
        detail=detail,
        checked_at=now or timezone.now(),
    )
    audit_record(action="drill.check", obj=check, changes=diff({}, snapshot(check)))
    return check


@transaction.atomic
def drill_complete(
    *, drill: RestoreDrill | int, actor=None, now: dt.datetime | None = None, failure_reason: str = ""
) -> RestoreDrill:
    """Verified: compute the figures, decide pass/fail per check and objective; drill.failed on failure."""
    drill = locked_drill(drill)
    if drill.status != DrillStatus.RUNNING:
        raise Conflict(f"Drill #{drill.pk} is not running.")
    now = now or timezone.now()
    checks = list(drill.checks.all())
    failed_checks = any(c.passed is False for c in checks)
    if drill.restored_at is None and not failure_reason and not failed_checks:
        raise Conflict(f"Drill #{drill.pk} has not been marked restored.", code="not_restored")
    if not checks and not failure_reason:
        raise Conflict(f"Drill #{drill.pk} has no checks: record what was verified.", code="no_checks")
    before = snapshot(drill)
    drill.verified_at = now
    drill.measured_rto_seconds = (now - drill.started_at).total_seconds()
    drill.rto_met = drill.measured_rto_seconds <= (drill.rto_target_minutes or 0) * 60
    reasons = [failure_reason] if failure_reason else []
    reasons += [f"check failed: {c.name}" for c in checks if c.passed is False]
    if drill.rto_met is False:
        reasons.append(f"RTO missed: {drill.measured_rto_seconds:.0f} s > {drill.rto_target_minutes} min")
    if drill.rpo_met is False:
        reasons.append(f"RPO missed: {drill.achieved_rpo_seconds:.0f} s > {drill.rpo_target_minutes} min")
    drill.status = DrillStatus.FAILED if reasons else DrillStatus.PASSED
    drill.failure_reason = "; ".join(reasons)
    drill.save()
    audit_record(action=f"drill.{drill.status}", obj=drill, changes=diff(before, snapshot(drill)))
    if drill.status == DrillStatus.FAILED:
        notify_drill(
            drill,
            "drill.failed",
            key=f"drill:{drill.pk}:failed",
            subject=f"Restore drill of {drill.target.name} failed",
            body=drill.failure_reason,
        )
    return drill


@transaction.atomic
def drill_sign_off(*, drill: RestoreDrill | int, actor, findings: str | None = None) -> RestoreDrill:
    """A second person signs off a finished drill: never the one who ran it."""
    drill = locked_drill(drill)
    if _actor(actor) is None:
        raise ValidationFailed("Sign-off needs a person.", fields={"signed_off_by": ["Required."]})
    if drill.status not in (DrillStatus.PASSED, DrillStatus.FAILED):
        raise Conflict(f"Drill #{drill.pk} is not finished; it cannot be signed off.")
    if drill.signed_off_at is not None:
        raise Conflict(f"Drill #{drill.pk} was already signed off.", code="already_signed_off")
    if drill.started_by_id == actor.pk:
        raise Conflict("The person who ran the drill cannot sign it off; ask a second person.", code="same_person")
    before = snapshot(drill)
    drill.signed_off_by = actor
    drill.signed_off_at = timezone.now()
    if findings is not None:
        drill.findings = findings
    drill.save()
    audit_record(action="drill.sign_off", obj=drill, changes=diff(before, snapshot(drill)))
    return drill


@transaction.atomic
def drill_add_evidence(*, drill: RestoreDrill | int, file, description: str = "", actor=None) -> DrillEvidence:
    drill = locked_drill(drill)
    digest = hashlib.sha256()
    size = 0
    for chunk in file.chunks(EVIDENCE_CHUNK) if hasattr(file, "chunks") else [file.read()]:
        digest.update(chunk)
        size += len(chunk)
    if hasattr(file, "seek"):
        file.seek(0)
    name = (getattr(file, "name", "evidence") or "evidence").rsplit("/", 1)[-1][:255]
    evidence = DrillEvidence(
        drill=drill,
        original_name=name,
        description=description[:300],
        sha256=digest.hexdigest(),
        size_bytes=size,
        uploaded_at=timezone.now(),
        uploaded_by=_actor(actor),
    )
    evidence.file.save(name, file, save=False)
    evidence.save()
    audit_record(action="drill.evidence", obj=evidence, changes=diff({}, snapshot(evidence)))
    return evidence


@transaction.atomic
def drill_add_action_item(
    *, drill: RestoreDrill | int, title: str, owner=None, due_date: dt.date | None = None
) -> DrillActionItem:
    drill = locked_drill(drill)
    if not (title or "").strip():
        raise ValidationFailed("An action item needs a title.", fields={"title": ["Required."]})
    item = DrillActionItem.objects.create(drill=drill, title=title.strip()[:200], owner=owner, due_date=due_date)
    audit_record(action="drill.action_item", obj=item, changes=diff({}, snapshot(item)))
    return item


# --- automated drills --------------------------------------------------------------------


@dataclass
class CheckResult:
    name: str
    passed: bool | None
    expected: str = ""
    actual: str = ""
    detail: str = ""


def _backup_file(run: BackupRun) -> Path:
    location = run.location
    if location.startswith("file://"):
        location = location[len("file://") :]
    return Path(location)


def _reference_database(target: BackupTarget) -> executors.Database:
    """Where scratch databases are made: Vigil's own server for PostgreSQL targets."""
    own = executors.default_database()
    if target.kind == TargetKind.SQLITE:
        return executors.Database("sqlite", "")
    if own.vendor != "postgresql":
        from django.conf import settings

        url = getattr(settings, "BACKUP_SCRATCH_DATABASE_URL", "")
        if not url:
            raise executors.RestoreFailed(
                "No PostgreSQL server for scratch databases: set BACKUP_SCRATCH_DATABASE_URL."
            )
        return executors.database_from_url(url)
    return own


def verify_backup_file(
    *,
    path: Path,
    engine: str,
    expected_sha256: str,
    manifest: dict | None,
    canary_query: str = "",
    canary_expected: str = "",
    reference: executors.Database | None = None,
    compare_content: bool = True,
    progress=executors._quiet,
    on_restored=None,
    on_verified=None,
) -> tuple[list[CheckResult], str]:
    """Checksum, restore into a scratch database, row counts (and content hashes), canary.

    Returns (checks, scratch name). The scratch database is dropped before this returns, whatever happened.
    """
    checks: list[CheckResult] = []
    if not path.is_file():
        checks.append(CheckResult("backup file", False, str(path), "missing", "The backup file is not readable."))
        return checks, ""
    progress("  checksum ...")
    actual_sha = executors.file_sha256(path)
    if expected_sha256:
        ok = actual_sha == expected_sha256
        checks.append(CheckResult("file checksum", ok, expected_sha256, actual_sha))
        if not ok:  # never restore a file that is not the backup that was taken
            checks.append(CheckResult("restore", None, detail="Not attempted: the file is not the recorded backup."))
            return checks, ""
    else:
        checks.append(CheckResult("file checksum", None, "", actual_sha, "No SHA-256 was recorded for the run."))
    reference = reference or (executors.Database("sqlite", "") if engine == "sqlite" else executors.default_database())
    scratch_name = ""
    with executors.scratch_database(reference) as scratch:
        scratch_name = scratch.name
        try:
            executors.restore_into(scratch, path, progress=progress)
        except executors.RestoreFailed as exc:
            checks.append(CheckResult("restore", False, "restored", "failed", str(exc)[-2000:]))
            return checks, scratch_name
        checks.append(CheckResult("restore", True, "restored", "restored"))
        if on_restored:
            on_restored()
        progress("  row counts ...")
        tables = (manifest or {}).get("tables")
        if tables:
            hashes = compare_content and all("sha256" in t for t in tables.values())
            restored = executors.table_manifest(scratch, hashes=hashes, progress=progress)
            checks.append(_compare(restored, tables, "rows", "row counts"))
            if hashes:
                checks.append(_compare(restored, tables, "sha256", "content hashes"))
        else:
            checks.append(CheckResult("row counts", None, detail="No manifest was recorded at backup time."))
        if canary_query:
            try:
                value = executors.run_canary(scratch, canary_query)
            except Exception as exc:  # any driver error is the canary's verdict, not a crash
                checks.append(CheckResult("canary query", False, canary_expected or "a value", "error", str(exc)))
            else:
                ok = value not in (None, "") and (not canary_expected or value == canary_expected)
                checks.append(CheckResult("canary query", ok, canary_expected or "a value", str(value), canary_query))
        if on_verified:
            on_verified()  # the last check is done: the clock stops before the scratch database is dropped
    return checks, scratch_name


def _compare(restored: dict, expected: dict, key: str, name: str) -> CheckResult:
    mismatches = []
    for table in sorted(set(expected) | set(restored)):
        want = expected.get(table, {}).get(key)
        got = restored.get(table, {}).get(key)
        if want != got:
            mismatches.append(f"{table}: expected {want}, restored {got}")
    total_expected = sum(t.get("rows", 0) for t in expected.values()) if key == "rows" else len(expected)
    total_actual = sum(t.get("rows", 0) for t in restored.values()) if key == "rows" else len(restored)
    label = "rows" if key == "rows" else "tables"
    return CheckResult(
        name,
        not mismatches,
        f"{total_expected} {label} in {len(expected)} tables",
        f"{total_actual} {label} in {len(restored)} tables" if not mismatches else f"{len(mismatches)} table(s) differ",
        "\n".join(mismatches[:50]),
    )


def drill_run_automated(
    *, target: BackupTarget, backup_run: BackupRun | None = None, drill: RestoreDrill | None = None, progress=None
) -> RestoreDrill:
    """Restore the run's file into a scratch database, check it, record the drill with its measured RTO."""
    progress = progress or executors._quiet
    if target.kind not in AUTOMATABLE_KINDS:
        raise ValidationFailed(
            f"{target.name} is a {target.get_kind_display()} target; automated drills restore PostgreSQL and SQLite.",
            fields={"target": ["Not a PostgreSQL or SQLite target."]},
        )
    drill = drill_start(drill=drill, target=target, backup_run=backup_run, mode=DrillMode.AUTOMATED)
    run = drill.backup_run
    engine = "sqlite" if target.kind == TargetKind.SQLITE else "postgresql"
    canary = target.canary_query or (DEFAULT_CANARY if target.slug == "vigil" else "")
    restored_at: list[dt.datetime] = []
    verified: list[float] = []
    failure = ""
    started = time.monotonic()
    try:
        checks, scratch = verify_backup_file(
            path=_backup_file(run),
            engine=engine,
            expected_sha256=run.sha256,
            manifest=run.manifest,
            canary_query=canary,
            canary_expected=target.canary_expected,
            reference=_reference_database(target),
            progress=progress,
            on_restored=lambda: restored_at.append(timezone.now()),
            on_verified=lambda: verified.append(time.monotonic()),
        )
    except Exception as exc:  # recorded on the drill: a drill that crashed is a failed drill
        checks, scratch = [], ""
        failure = f"{type(exc).__name__}: {exc}"[:2000]
    # The clock runs from drill start to the last check (cleanup excluded), measured here, not typed.
    verified_at = drill.started_at + dt.timedelta(seconds=(verified[0] if verified else time.monotonic()) - started)
    with transaction.atomic():
        locked = locked_drill(drill)
        locked.scratch_name = scratch
        locked.restored_at = restored_at[0] if restored_at else None
        locked.save(update_fields=["scratch_name", "restored_at", "updated_at"])
        for check in checks:
            drill_add_check(
                drill=locked,
                name=check.name,
                passed=check.passed,
                expected=check.expected,
                actual=check.actual,
                detail=check.detail,
                now=verified_at,
            )
        return drill_complete(drill=locked, now=verified_at, failure_reason=failure)


# --- scheduling ---------------------------------------------------------------------------


def next_drill_due(target: BackupTarget, *, last_passed_at: dt.datetime | None) -> dt.datetime:
    """A passed drill's interval after it; never drilled: due from the target's creation."""
    return (last_passed_at + dt.timedelta(days=target.drill_interval_days)) if last_passed_at else target.created_at


def drills_schedule_due(*, now: dt.datetime | None = None) -> dict:
    """Daily: give each target whose interval came due its next drill; automated ones run at once."""
    from ..selectors import last_passed_drill_by_target

    now = now or timezone.now()
    counts = {"scheduled": 0, "automated": 0, "overdue": 0}
    last_passed = last_passed_drill_by_target()
    open_targets = set(RestoreDrill.objects.filter(status__in=OPEN_DRILL_STATUSES).values_list("target_id", flat=True))
    for target in BackupTarget.objects.filter(enabled=True).select_related("service"):
        if target.pk in open_targets:
            continue
        due = next_drill_due(target, last_passed_at=last_passed.get(target.pk))
        if due > now:
            continue
        drill = drill_schedule(target=target, scheduled_for=due)
        counts["scheduled"] += 1
        if drill.mode == DrillMode.AUTOMATED and newest_good_run(target) is not None:
            from ..tasks import run_automated_drill

            transaction.on_commit(lambda pk=drill.pk: run_automated_drill.delay(pk), robust=True)
            counts["automated"] += 1
    counts["overdue"] = drills_mark_overdue(now=now)
    return counts


def drills_mark_overdue(*, now: dt.datetime | None = None) -> int:
    """Scheduled drills not started within DRILL_OVERDUE_AFTER_DAYS become overdue: drill.overdue once each."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=DRILL_OVERDUE_AFTER_DAYS)
    ids = list(
        RestoreDrill.objects.filter(
            status__in=(DrillStatus.SCHEDULED, DrillStatus.OVERDUE),
            scheduled_for__lt=cutoff,
            overdue_notified_at__isnull=True,
        ).values_list("pk", flat=True)
    )
    for pk in ids:
        with transaction.atomic():
            drill = locked_drill(pk)
            if drill.overdue_notified_at is not None:
                continue
            drill.status = DrillStatus.OVERDUE
            drill.overdue_notified_at = now
            drill.save(update_fields=["status", "overdue_notified_at", "updated_at"])
            audit_record(action="drill.overdue", obj=drill, changes={"status": ["scheduled", "overdue"]})
            notify_drill(
                drill,
                "drill.overdue",
                key=f"drill:{drill.pk}:overdue",
                subject=f"Restore drill of {drill.target.name} is overdue",
                body=f"Scheduled for {drill.scheduled_for:%Y-%m-%d}; not run within {DRILL_OVERDUE_AFTER_DAYS} days.",
                severity=Severity.SEV3,
            )
    return len(ids)
