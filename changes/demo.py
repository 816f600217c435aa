"""Demo changes: a weekly weekend freeze, a normal change awaiting approval, and a week of deployments."""

from datetime import time, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from governance.audit import audit_context
from governance.models import Service

from .models import Change, FreezeWindow

DEMO_FREEZE = "Weekend freeze (demo)"


def seed_changes(stdout) -> None:
    from . import services

    if FreezeWindow.objects.filter(name=DEMO_FREEZE).exists() or not Service.objects.exists():
        stdout.write("  demo data: changes (already there)")
        return
    User = get_user_model()
    implementer = User.objects.filter(username="liam.chen").first()
    service = Service.objects.filter(slug="checkout-api").first() or Service.objects.first()
    now = timezone.now()
    with audit_context(label="seed_demo"):
        services.freeze_window_create(
            name=DEMO_FREEZE,
            reason="No production changes over the weekend without an approved exception.",
            recurrence="weekly",
            weekdays=[5, 6],
            start_time=time(0, 0),
            end_time=time(23, 59),
            time_zone="UTC",
            all_services=True,
            environments="production",
        )
        services.change_create(
            title="Upgrade PostgreSQL minor version",
            services=[service],
            kind="normal",
            risk="medium",
            planned_start=now + timedelta(days=2, hours=1),
            planned_end=now + timedelta(days=2, hours=2),
            implementer=implementer,
            rollback_plan="Fail back to the replica on the old version.",
        )
        for days_ago in range(7, 0, -1):
            started = now - timedelta(days=days_ago, hours=3)
            services.deployment_record(
                service=service,
                environment="production",
                version=f"2026.{days_ago:02d}",
                status="succeeded",
                started_at=started,
                finished_at=started + timedelta(minutes=6),
                implementer=implementer,
            )
    stdout.write(f"  demo data: changes ({Change.objects.count()} changes, 1 freeze window)")
