"""Demo backups: a fresh target with a passed drill, a stale one in breach, a never-drilled one."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from governance.audit import audit_context
from governance.models import Service

from .choices import DrillMode, RunSource, RunStatus
from .models import BackupRun, BackupTarget, RestoreDrill


def seed_backups(stdout) -> None:
    from . import services

    if BackupTarget.objects.filter(slug="primary-postgres").exists() or not Service.objects.exists():
        stdout.write("  demo data: backups (already there)")
        return
    User = get_user_model()
    admin = User.objects.filter(username="noah.fischer").first()
    signer = User.objects.filter(username="priya.nair").first()
    service = Service.objects.filter(slug="primary-postgres").first() or Service.objects.first()
    ledger = Service.objects.filter(slug="payments-ledger").first() or service
    search = Service.objects.filter(slug="search").first() or service
    now = timezone.now()
    with audit_context(user=admin):
        primary = services.backup_target_create(
            slug="primary-postgres",
            name="Primary PostgreSQL",
            service=service,
            kind="postgresql",
            rpo_minutes=60,
            rto_minutes=30,
            expected_schedule="0 * * * *",
            retention_days=35,
        )
        ledger_target = services.backup_target_create(
            slug="ledger-wal",
            name="Ledger WAL archive",
            service=ledger,
            kind="postgresql",
            rpo_minutes=15,
            rto_minutes=60,
            expected_schedule="*/10 * * * *",
        )
        services.backup_target_create(
            slug="search-snapshots",
            name="Search index snapshots",
            service=search,
            kind="object-store",
            rpo_minutes=24 * 60,
            rto_minutes=240,
            expected_schedule="0 3 * * *",
        )
        for hours in range(24, 0, -1):
            finished = now - timedelta(hours=hours) + timedelta(minutes=7)
            services.backup_run_report(
                target=primary,
                status=RunStatus.SUCCEEDED,
                started_at=finished - timedelta(minutes=6),
                finished_at=finished,
                size_bytes=2_400_000_000 + hours * 1_000_000,
                tool="pgbackrest",
                external_id=f"demo-{hours}",
                source=RunSource.DEMO,
            )
        last = now - timedelta(hours=3)
        services.backup_run_report(
            target=ledger_target,
            status=RunStatus.SUCCEEDED,
            started_at=last - timedelta(minutes=2),
            finished_at=last,
            tool="walg",
            external_id="demo-ledger-1",
            source=RunSource.DEMO,
        )
        services.backup_run_report(
            target=ledger_target,
            status=RunStatus.FAILED,
            started_at=now - timedelta(minutes=50),
            finished_at=now - timedelta(minutes=49),
            tool="walg",
            external_id="demo-ledger-2",
            error="upload to object storage timed out",
            source=RunSource.DEMO,
        )
        services.rpo_monitor()
        run = BackupRun.objects.filter(target=primary).order_by("-recovery_point_at").first()
        drill = services.drill_start(target=primary, backup_run=run, actor=admin, mode=DrillMode.MANUAL)
        services.drill_mark_restored(drill=drill, actor=admin)
        services.drill_add_check(drill=drill, name="row counts", passed=True, expected="1 204 311", actual="1 204 311")
        services.drill_add_check(
            drill=drill, name="canary: latest order", passed=True, expected="today", actual="today"
        )
        drill = services.drill_complete(drill=drill, actor=admin)
        RestoreDrill.objects.filter(pk=drill.pk).update(findings="Restore took 14 min; runbook step 4 was out of date.")
        if signer is not None:
            services.drill_sign_off(drill=drill, actor=signer)
        services.drill_add_action_item(drill=drill, title="Update step 4 of the restore runbook", owner=admin)
    stdout.write("  demo data: backups (3 targets, 26 runs, 1 breach, 1 signed-off drill)")
