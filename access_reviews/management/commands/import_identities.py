from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from access_reviews import services
from access_reviews.choices import ImportSource
from access_reviews.parsing import identities_from_csv, max_csv_bytes, sha256_of
from governance.errors import VigilError


class Command(BaseCommand):
    help = "Import identities (email, name, manager_email, department, employment_status) from an HR CSV export."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options):
        if not file.exists():
            raise CommandError(f"No such file: {file}")
        with file.open("rb") as handle:
            data = handle.read(max_csv_bytes() + 1)
        try:
            record = services.identities_import(
                rows=identities_from_csv(data), source=ImportSource.COMMAND, sha256=sha256_of(data)
            )
        except VigilError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"identities: {record.added} added, {record.changed} changed, {record.unchanged} unchanged")
