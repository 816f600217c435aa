"""What backups ask of the person looking ("Needs you now"): drills to run and drills to sign off."""

import datetime as dt

from django.db.models import Q
from django.urls import reverse

from governance.registries import NeedsYouItem, NeedsYouSource, needs_you

from .choices import FINISHED_DRILL_STATUSES, OPEN_DRILL_STATUSES, DrillMode
from .models import RestoreDrill

SHOWN = 20


def drills_needing(user, now: dt.datetime) -> list[NeedsYouItem]:
    """Manual drills they started or take part in that are still open; finished drills awaiting a
    sign-off they may give (never their own: the second pair of eyes is the point)."""
    items = []
    if user.has_perm("backups.run_restoredrill"):
        open_drills = (
            RestoreDrill.objects.filter(status__in=OPEN_DRILL_STATUSES, mode=DrillMode.MANUAL)
            .filter(Q(started_by=user) | Q(participants=user))
            .distinct()
            .select_related("target")
            .only("scheduled_for", "target__name")
            .order_by("scheduled_for", "pk")[:SHOWN]
        )
        for drill in open_drills:
            items.append(
                NeedsYouItem(
                    "drill",
                    f"Restore drill of {drill.target.name}: carry it through",
                    reverse("admin:backups_restoredrill_change", args=[drill.pk]),
                    drill.scheduled_for,
                    "drill",
                )
            )
    if user.has_perm("backups.signoff_restoredrill"):
        to_sign = (
            RestoreDrill.objects.filter(status__in=FINISHED_DRILL_STATUSES, signed_off_at__isnull=True)
            .exclude(started_by=user)
            .select_related("target")
            .only("status", "target__name")
            .order_by("pk")[:SHOWN]
        )
        for drill in to_sign:
            items.append(
                NeedsYouItem(
                    "drill",
                    f"Sign off the {drill.get_status_display().lower()} restore drill of {drill.target.name}",
                    reverse("admin:backups_restoredrill_change", args=[drill.pk]),
                )
            )
    return items


needs_you.register(
    "backups",
    NeedsYouSource(
        "backups",
        drills_needing,
        watches=("backups.RestoreDrill", "backups.RestoreDrill_participants", "backups.BackupTarget"),
    ),
)
