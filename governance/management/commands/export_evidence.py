import datetime as dt
import resource
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.audit import audit_record
from governance.chain import audit_seal_all
from governance.evidence import export_evidence


class Command(BaseCommand):
    help = "Writes the evidence bundle for a period (dates inclusive, UTC): a zip that verifies offline."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD")
        parser.add_argument("--to", dest="end", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD")
        parser.add_argument("--out", required=True, help="FILE.zip")

    def handle(self, *args, **options):
        start, end, out = options["start"], options["end"], Path(options["out"])
        if end < start:
            raise CommandError("--to is before --from.")
        sealed = audit_seal_all()  # the period's events are in the chain before it is exported
        if sealed:
            self.stdout.write(f"sealed {sealed} pending audit event(s)")
        started = time.monotonic()
        partial = out.with_name(out.name + ".partial")
        with partial.open("wb") as stream:
            result = export_evidence(
                start=start, end=end, out=stream, progress=lambda line: self.stdout.write(f"  {line}")
            )
        partial.replace(out)
        audit_record(
            action="evidence.export",
            object_type="governance.evidence",
            object_id=f"{start}..{end}",
            object_repr=out.name,
            changes={"manifest_end_hash": [None, result.manifest["audit_chain"]["end_hash"]]},
        )
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.stdout.write(
            f"wrote {out} ({out.stat().st_size} bytes, {len(result.manifest['files'])} files, {result.rows} rows) "
            f"in {time.monotonic() - started:.1f} s, peak memory {peak_mb:.0f} MB"
        )
