"""ops_backup create | restore FILE | drill | verify FILE — Vigil's own database, backed up and proven."""

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backups import executors, services
from backups.choices import DrillStatus


class Command(BaseCommand):
    help = "Back up Vigil's own database, restore it, drill the restore (measured RTO) or verify a backup file."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Back up now; prints the file's path.")
        create.add_argument("--out", help="Folder for the backup (default: BACKUP_DIR, var/backups).")
        restore = sub.add_parser("restore", help="Restore FILE into the database (refuses a non-empty one).")
        restore.add_argument("file")
        restore.add_argument("--database-url", help="Restore there instead of Vigil's configured database.")
        restore.add_argument("--force", action="store_true", help="Replace a non-empty database.")
        drill = sub.add_parser("drill", help="Automated drill of the newest backup (or --run ID).")
        drill.add_argument("--run", type=int, help="Drill this BackupRun instead of the newest.")
        verify = sub.add_parser("verify", help="Verify FILE: checksum, restore into a scratch database, compare.")
        verify.add_argument("file")
        verify.add_argument("--counts-only", action="store_true", help="Compare row counts, not content hashes.")
        for p in (create, restore, drill, verify):
            p.add_argument("--quiet", action="store_true", help="Only the summary line.")

    def handle(self, *args, **options):
        self.quiet = options["quiet"]
        self.started = time.monotonic()
        return getattr(self, f"do_{options['action']}")(options)

    def progress(self, message: str) -> None:
        if not self.quiet:
            self.stderr.write(f"[{time.monotonic() - self.started:6.1f}s] {message}")

    # --- create -------------------------------------------------------------------------------
    def do_create(self, options):
        self.progress("backing up Vigil's database ...")
        run = services.vigil_backup_create(
            out_dir=Path(options["out"]) if options["out"] else None, progress=self.progress
        )
        tables = run.manifest.get("tables", {})
        rows = sum(t["rows"] for t in tables.values())
        self.stdout.write(
            f"backup created: run {run.pk}, {len(tables)} tables, {rows} rows, {run.size_bytes} bytes, "
            f"sha256 {run.sha256[:12]}… in {time.monotonic() - self.started:.1f} s"
        )
        self.stdout.write(run.location)

    # --- restore ------------------------------------------------------------------------------
    def do_restore(self, options):
        path = Path(options["file"]).resolve()
        if not path.is_file():
            raise CommandError(f"No such backup file: {path}")
        database = (
            executors.database_from_url(options["database_url"])
            if options["database_url"]
            else executors.default_database()
        )
        sidecar = executors.load_sidecar_manifest(path)
        engine = (sidecar or {}).get("engine") or ("sqlite" if path.suffix.startswith(".sqlite") else "postgresql")
        if engine != database.vendor:
            raise CommandError(f"{path.name} is a {engine} backup; the target database is {database.vendor}.")
        if sidecar and sidecar.get("sha256") and executors.file_sha256(path) != sidecar["sha256"]:
            raise CommandError(f"{path.name} does not match its manifest's SHA-256: refusing to restore it.")
        empty = executors.is_empty(database)
        if not empty and not options["force"]:
            raise CommandError(
                f"{database.label} is not empty: refusing to overwrite it. Pass --force to replace its contents."
            )
        self.progress(f"restoring {path.name} into {database.label} ...")
        try:
            executors.restore_into(database, path, clean=not empty, progress=self.progress)
        except executors.RestoreFailed as exc:
            raise CommandError(str(exc)) from exc
        self.progress("counting restored rows ...")
        restored = executors.table_manifest(database, hashes=False)
        rows = sum(t["rows"] for t in restored.values())
        expected = (sidecar or {}).get("tables")
        agreement = ""
        if expected:
            differ = [n for n in expected if expected[n]["rows"] != restored.get(n, {}).get("rows")]
            agreement = (
                f"; {len(differ)} table(s) differ from the manifest" if differ else "; counts match the manifest"
            )
            if differ:
                self.stdout.write(f"restored {len(restored)} tables, {rows} rows{agreement}: {', '.join(differ)}")
                sys.exit(1)
        self.stdout.write(
            f"restored {len(restored)} tables, {rows} rows into {database.label}{agreement} "
            f"in {time.monotonic() - self.started:.1f} s"
        )

    # --- drill --------------------------------------------------------------------------------
    def do_drill(self, options):
        from backups.models import BackupRun

        target = services.vigil_target_ensure()
        if options["run"]:
            run = BackupRun.objects.filter(pk=options["run"], target=target).first()
            if run is None:
                raise CommandError(f"No run {options['run']} of the vigil target.")
        else:
            run = services.newest_vigil_run()
            if run is None:
                raise CommandError("No backup of Vigil's database yet: run `ops_backup create` first.")
        self.progress(f"drilling run {run.pk} ({Path(run.location).name}) ...")
        drill = services.drill_run_automated(target=target, backup_run=run, progress=self.progress)
        for check in drill.checks.all():
            mark = {True: "ok  ", False: "FAIL", None: "skip"}[check.passed]
            line = f"  {mark} {check.name}: expected {check.expected or '—'}, got {check.actual or '—'}"
            self.progress(line)
            if check.passed is False and check.detail:
                self.progress("       " + check.detail.replace("\n", "\n       ")[:1500])
        self.stdout.write(
            f"drill {drill.pk} {drill.status.upper()}: measured RTO {drill.measured_rto_seconds:.1f} s "
            f"(target {drill.rto_target_minutes} min), achieved RPO {drill.achieved_rpo_seconds:.0f} s "
            f"(target {drill.rpo_target_minutes} min), {drill.checks.count()} checks"
            + (f"; {drill.failure_reason}" if drill.failure_reason else "")
        )
        if drill.status != DrillStatus.PASSED:
            sys.exit(1)

    # --- verify -------------------------------------------------------------------------------
    def do_verify(self, options):
        from backups.services.vigil import recorded_run_for

        path = Path(options["file"]).resolve()
        if not path.is_file():
            raise CommandError(f"No such backup file: {path}")
        run = recorded_run_for(path)
        sidecar = executors.load_sidecar_manifest(path)
        manifest = (run.manifest if run and run.manifest else None) or sidecar
        expected_sha = (run.sha256 if run else "") or (sidecar or {}).get("sha256", "")
        engine = (manifest or {}).get("engine") or ("sqlite" if path.suffix.startswith(".sqlite") else "postgresql")
        reference = executors.default_database() if engine == "postgresql" else executors.Database("sqlite", "")
        if reference.vendor != engine:
            raise CommandError(f"{path.name} is a {engine} backup; verifying it needs a {engine} server.")
        checks, _ = services.verify_backup_file(
            path=path,
            engine=engine,
            expected_sha256=expected_sha,
            manifest=manifest,
            canary_query="SELECT count(*) FROM django_migrations",
            reference=reference,
            compare_content=not options["counts_only"],
            progress=self.progress,
        )
        failed = [c for c in checks if c.passed is False]
        for check in checks:
            mark = {True: "ok  ", False: "FAIL", None: "skip"}[check.passed]
            self.progress(f"  {mark} {check.name}: expected {check.expected or '—'}, got {check.actual or '—'}")
        verdict = "FAILED" if failed else "OK"
        self.stdout.write(
            f"verify {path.name}: {verdict}, {len(checks) - len(failed)}/{len(checks)} checks passed"
            + (f" ({', '.join(c.name for c in failed)} failed)" if failed else "")
            + f" in {time.monotonic() - self.started:.1f} s"
        )
        if failed:
            sys.exit(1)
