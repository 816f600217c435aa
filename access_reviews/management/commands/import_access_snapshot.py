from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from access_reviews import services
from access_reviews.choices import ImportSource
from access_reviews.models import System
from governance.errors import VigilError


class Command(BaseCommand):
    help = "Import an access snapshot from CSV; prints added / removed / changed. Nothing changes on any error."

    def add_arguments(self, parser):
        parser.add_argument("--system", help="System slug (optional when the file has a `system` column).")
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Show what would change; write nothing.")

    def handle(self, *args, file: Path, system=None, dry_run=False, **options):
        target = None
        if system:
            target = System.objects.filter(slug=system).first()
            if target is None:
                raise CommandError(f"Unknown system {system!r}.")
        if not file.exists():
            raise CommandError(f"No such file: {file}")
        from access_reviews.parsing import max_csv_bytes

        with file.open("rb") as handle:
            data = handle.read(max_csv_bytes() + 1)
        try:
            results = services.snapshot_import_csv(
                data=data, system=target, source=ImportSource.COMMAND, dry_run=dry_run
            )
        except VigilError as exc:
            for where, messages in list(exc.fields.items())[:20]:
                self.stderr.write(f"  {where}: {' '.join(messages)}")
            raise CommandError(exc.message) from exc
        for r in results:
            if dry_run:
                self.stdout.write(
                    f"{r['system'].slug} (dry run): {r['added']} added, {r['removed']} removed, "
                    f"{r['changed']} changed, {r['unchanged']} unchanged"
                )
            else:
                self.stdout.write(
                    f"{r.system.slug}: {r.added} added, {r.removed} removed, {r.changed} changed, "
                    f"{r.unchanged} unchanged, {r.remediations_verified} remediation(s) verified, sha256 {r.sha256}"
                )
