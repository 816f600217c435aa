from django.core.management.base import BaseCommand, CommandError

from access_reviews import services
from access_reviews.choices import ImportStatus
from access_reviews.models import System


class Command(BaseCommand):
    help = "Run a system's connector now, as its schedule would. Non-zero exit on failure (grants are kept)."

    def add_arguments(self, parser):
        parser.add_argument("--system", required=True, help="System slug")

    def handle(self, *args, system: str, **options):
        target = System.objects.filter(slug=system).first()
        if target is None:
            raise CommandError(f"Unknown system {system!r}.")
        record = services.system_pull(system=target)
        if record.status == ImportStatus.FAILED:
            raise CommandError(f"{target.slug}: pull failed, grants kept: {record.error}")
        self.stdout.write(
            f"{target.slug}: {record.added} added, {record.removed} removed, {record.changed} changed, "
            f"{record.unchanged} unchanged, {record.remediations_verified} remediation(s) verified"
        )
