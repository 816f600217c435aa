from django.core.management.base import BaseCommand, CommandError

from governance.errors import VigilError
from governance.services import api_key_create


class Command(BaseCommand):
    help = "Create a scoped API key and print it once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", required=True, help="Comma-separated, e.g. incidents:write,alerts:ingest")
        parser.add_argument("--expires-days", type=int, default=None)

    def handle(self, *args, name, scopes, expires_days, **options):
        try:
            issued = api_key_create(
                name=name, scopes=[s.strip() for s in scopes.split(",") if s.strip()], expires_days=expires_days
            )
        except VigilError as exc:
            raise CommandError(exc.message) from exc
        key = issued.api_key
        expiry = f", expires {key.expires_at:%Y-%m-%d}" if key.expires_at else ", no expiry"
        self.stderr.write(f"Created API key {key.name!r} ({', '.join(key.scopes)}{expiry}). It is shown once:")
        self.stdout.write(issued.raw_key)
