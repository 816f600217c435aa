import json

from django.core.management.base import BaseCommand

from governance.choices import CheckStatus
from governance.health import exit_code, run_checks, run_status_sources, worst

_MARK = {CheckStatus.OK: "ok  ", CheckStatus.WARNING: "WARN", CheckStatus.CRITICAL: "CRIT"}


class Command(BaseCommand):
    help = "The golden status: health checks, stale jobs, breaches and overdue work. Exit 0 ok, 1 warning, 2 critical."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")

    def handle(self, *args, **options):
        results = run_checks() + run_status_sources()
        status = worst(r.status for r in results)
        if options["json"]:
            self.stdout.write(json.dumps({"status": str(status), "checks": [r.as_dict() for r in results]}, indent=2))
        else:
            width = max((len(r.name) for r in results), default=10)
            for result in results:
                self.stdout.write(f"{_MARK[CheckStatus(result.status)]}  {result.name:<{width}}  {result.detail}")
            counts = {s: sum(1 for r in results if r.status == s) for s in CheckStatus}
            self.stdout.write(
                f"Vigil is {status}: {counts[CheckStatus.OK]} ok, {counts[CheckStatus.WARNING]} warning, "
                f"{counts[CheckStatus.CRITICAL]} critical."
            )
        raise SystemExit(exit_code(status))
