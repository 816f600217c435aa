from django.core.management.base import BaseCommand

from alerting.choices import NotificationStatus
from alerting.models import Notification
from alerting.services import dispatch, notification_retry


class Command(BaseCommand):
    help = "Re-dispatches pending notifications; with --dead, dead-lettered ones (with a fresh attempt budget)."

    def add_arguments(self, parser):
        parser.add_argument("--dead", action="store_true", help="Retry dead letters instead of pending rows.")

    def handle(self, *args, dead=False, **options):
        if dead:
            rows = list(Notification.objects.filter(status=NotificationStatus.DEAD_LETTER).order_by("pk"))
            for i, notification in enumerate(rows, 1):
                notification_retry(notification=notification)
                if i % 100 == 0:
                    self.stdout.write(f"  {i}/{len(rows)}")
            self.stdout.write(f"{len(rows)} dead-lettered notification(s) queued again.")
            return
        ids = list(
            Notification.objects.filter(status=NotificationStatus.PENDING).order_by("pk").values_list("pk", flat=True)
        )
        sent = dispatch(ids)
        self.stdout.write(
            f"{sent} of {len(ids)} pending notification(s) dispatched"
            + ("." if sent == len(ids) else " (broker unavailable; the sweeper will retry).")
        )
