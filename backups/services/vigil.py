"""Vigil's own database: back it up as a run of the built-in `vigil` target, restore it, drill it."""

import datetime as dt
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record
from governance.models import Service

from .. import executors
from ..choices import VIGIL_TARGET_SLUG, RunKind, RunSource, RunStatus, TargetKind
from ..models import BackupRun, BackupTarget
from .runs import backup_run_report, backup_target_create


@transaction.atomic
def vigil_target_ensure() -> BackupTarget:
    """The built-in target for Vigil's own database (created on first use)."""
    target = BackupTarget.objects.filter(slug=VIGIL_TARGET_SLUG).first()
    if target is not None:
        return target
    service = Service.objects.filter(slug="vigil").first()
    if service is None:
        service = Service.objects.create(slug="vigil", name="Vigil", tier=1, description="This governance system.")
        audit_record(action="create", obj=service, changes={"slug": [None, "vigil"]})
    engine = executors.default_database().vendor
    return backup_target_create(
        slug=VIGIL_TARGET_SLUG,
        name="Vigil database",
        service=service,
        kind=TargetKind.SQLITE if engine == "sqlite" else TargetKind.POSTGRESQL,
        rpo_minutes=24 * 60,
        rto_minutes=60,
        expected_schedule="30 2 * * *",
        automated_drills=True,
        description="Vigil's own data: `ops_backup create` backs it up, `ops_backup drill` proves the restore.",
    )


def vigil_backup_create(*, out_dir: Path | None = None, progress=executors._quiet) -> BackupRun:
    """Dump Vigil's database (snapshot-consistent manifest) and record it as a run of the `vigil` target."""
    target = vigil_target_ensure()
    database = executors.default_database()
    started = timezone.now()
    stamp = started.strftime("%Y%m%dT%H%M%S") + f"-{started.microsecond:06d}"
    backup = executors.backup_database(
        database, Path(out_dir or executors.backup_dir()), progress=progress, stamp=stamp
    )
    finished = timezone.now()
    run, _ = backup_run_report(
        target=target,
        status=RunStatus.SUCCEEDED,
        kind=RunKind.FULL,
        started_at=started,
        finished_at=finished,
        recovery_point_at=started,  # the snapshot was taken as the backup began
        size_bytes=backup.size_bytes,
        sha256=backup.sha256,
        location=str(backup.path.resolve()),
        tool="pg_dump" if backup.engine == "postgresql" else "sqlite-backup-api",
        external_id=f"vigil-{stamp}",
        manifest=backup.manifest,
        raw={"format": backup.format, "tables": len(backup.manifest["tables"])},
        source=RunSource.EXECUTOR,
    )
    return run


def newest_vigil_run() -> BackupRun | None:
    return (
        BackupRun.objects.filter(target__slug=VIGIL_TARGET_SLUG, status=RunStatus.SUCCEEDED)
        .order_by("-recovery_point_at", "-id")
        .first()
    )


def recorded_run_for(path: Path) -> BackupRun | None:
    return BackupRun.objects.filter(location=str(Path(path).resolve())).order_by("-id").first()


def started_now() -> dt.datetime:
    return timezone.now()
