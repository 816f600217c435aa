from django.core.management.base import BaseCommand

from governance.chain import audit_seal_all, audit_verify


class Command(BaseCommand):
    help = "Checks the whole audit chain and every signed checkpoint; names the first broken event; exit 1 on a fault."

    def add_arguments(self, parser):
        parser.add_argument("--seal-first", action="store_true", help="Seal pending events before verifying.")
        parser.add_argument("--all", action="store_true", help="Report every fault, not only the first.")

    def handle(self, *args, **options):
        if options["seal_first"]:
            self.stdout.write(f"sealed {audit_seal_all()} pending event(s)")

        def progress(links: int) -> None:
            self.stdout.write(f"  … {links} link(s) verified")

        report = audit_verify(progress=progress, stop_at_first=not options["all"])
        for fault in report.faults:
            self.stderr.write(f"BROKEN: {fault}")
        summary = (
            f"{report.links} link(s), {report.checkpoints} checkpoint(s) checked; "
            f"{report.unsealed} event(s) await sealing"
        )
        if report.ok:
            self.stdout.write(f"audit chain intact: {summary}")
            return
        self.stdout.write(f"audit chain BROKEN: {report.faults[0]} ({summary})")
        raise SystemExit(1)
