from pathlib import Path

from django.core.management.base import BaseCommand

from governance.evidence import BundleInvalid, verify_bundle


class Command(BaseCommand):
    help = "Checks an evidence bundle offline (no database): hashes, row counts, signatures, the audit chain."
    requires_system_checks = []  # runs on an auditor's machine with no database at all

    def add_arguments(self, parser):
        parser.add_argument("bundle", help="FILE.zip")
        parser.add_argument("--public-key", help="the PEM you pinned from Vigil; the bundle's key must equal it")
        parser.add_argument("--previous", help="the previous period's bundle: this one must start where it ended")

    def handle(self, *args, **options):
        pinned = Path(options["public_key"]).read_text() if options["public_key"] else None
        try:
            manifest = verify_bundle(options["bundle"], public_key_pem_text=pinned, previous=options["previous"])
        except BundleInvalid as exc:
            self.stderr.write(f"INVALID: {exc}")
            raise SystemExit(1) from None
        chain = manifest["audit_chain"]
        self.stdout.write(
            f"valid: {len(manifest['files'])} files; audit links {chain['first_seq']}–{chain['last_seq']} "
            f"chain from {chain['start_hash'][:12]}… to {chain['end_hash'][:12]}…"
            + ("; links to the previous bundle" if options["previous"] else "")
        )
