"""report_backup_run: record a backup run from a shell script, or from a backup tool's own JSON output.

report_backup_run --target db-main --status succeeded --started-at ... --finished-at ... [--sha256 ...]
restic snapshots --json | report_backup_run --target files --format restic -
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from backups import services
from backups.choices import RunKind, RunSource, RunStatus
from backups.tools import PARSERS
from governance.errors import VigilError


def _time(value: str | None, name: str):
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"--{name.replace('_', '-')}: not an ISO 8601 time: {value!r}")
    return parsed


class Command(BaseCommand):
    help = "Record a backup run (same fields as the API) or runs from restic / pgBackRest / WAL-G / Barman JSON."

    def add_arguments(self, parser):
        parser.add_argument("--target", required=True, help="Backup target slug.")
        parser.add_argument("--format", choices=sorted(PARSERS), help="Read the tool's JSON output from FILE or -.")
        parser.add_argument("file", nargs="?", help="With --format: a file, or - for standard input.")
        parser.add_argument("--status", choices=RunStatus.values)
        parser.add_argument("--kind", choices=RunKind.values, default=RunKind.FULL)
        parser.add_argument("--started-at")
        parser.add_argument("--finished-at")
        parser.add_argument("--size-bytes", type=int)
        parser.add_argument("--sha256", default="")
        parser.add_argument("--location", default="")
        parser.add_argument("--tool", default="")
        parser.add_argument("--external-id", default="")
        parser.add_argument("--raw", help="Extra JSON to keep with the run.")

    def handle(self, *args, **options):
        try:
            target = services.target_by_slug(options["target"])
            if options["format"]:
                self.from_tool(target, options)
            else:
                self.from_fields(target, options)
        except VigilError as exc:
            fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items())
            raise CommandError(exc.message + (f" ({fields})" if fields else "")) from exc

    def from_tool(self, target, options):
        name = options["file"]
        if not name:
            raise CommandError("--format reads FILE or - (standard input).")
        if name == "-":
            data = sys.stdin.read()
        else:
            try:
                with open(name, encoding="utf-8", errors="replace") as handle:
                    data = handle.read()
            except OSError as exc:
                raise CommandError(f"Cannot read {name}: {exc.strerror}") from exc
        counts = services.backup_tool_report(target=target, tool=options["format"], data=data, source=RunSource.COMMAND)
        self.stdout.write(
            f"{target.slug}: {counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged from {options['format']} output"
        )

    def from_fields(self, target, options):
        if not options["status"]:
            raise CommandError("--status is required (or give --format and the tool's output).")
        started = _time(options["started_at"], "started_at")
        if started is None:
            raise CommandError("--started-at is required.")
        raw = {}
        if options["raw"]:
            try:
                raw = json.loads(options["raw"])
            except json.JSONDecodeError as exc:
                raise CommandError(f"--raw is not JSON: {exc}") from exc
        run, outcome = services.backup_run_report(
            target=target,
            status=options["status"],
            kind=options["kind"],
            started_at=started,
            finished_at=_time(options["finished_at"], "finished_at"),
            size_bytes=options["size_bytes"],
            sha256=options["sha256"],
            location=options["location"],
            tool=options["tool"],
            external_id=options["external_id"],
            raw=raw if isinstance(raw, dict) else {"value": raw},
            source=RunSource.COMMAND,
        )
        self.stdout.write(f"{target.slug}: run {run.pk} {outcome} ({run.status})")
