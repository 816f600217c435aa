from pathlib import Path

from django.core.management.base import BaseCommand

from runbooks.services import runbooks_export


class Command(BaseCommand):
    help = "Write every runbook's current version to PATH/<slug>.md (front matter + body), as runbooks_import reads."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The folder to write into (created if missing).")
        parser.add_argument("--include-retired", action="store_true", help="Also export retired runbooks.")

    def handle(self, *args, path, include_retired, **options):
        written = runbooks_export(path=Path(path), include_retired=include_retired)
        for file in written:
            self.stdout.write(f"wrote {file}")
        self.stdout.write(f"{len(written)} runbook(s) exported to {path}")
