from django.core.management.base import BaseCommand, CommandError

from governance.audit import audit_context


class Command(BaseCommand):
    help = "Evaluate SLOs now, as the scheduled job does; one line per SLO."

    def add_arguments(self, parser):
        parser.add_argument("--slo", help="only this slug")

    def handle(self, *args, slo=None, **options):
        from slos.models import SLO
        from slos.tasks import evaluate_all

        if slo and not SLO.objects.filter(slug=slo).exists():
            raise CommandError(f"there is no SLO {slo!r}")
        with audit_context(label="command:slos_evaluate"):
            results = evaluate_all(slug=slo)
        for result in results:
            self.stdout.write(result.line())
        unknown = sum(1 for r in results if r.budget_status == "unknown")
        burning = sum(1 for r in results if r.alert)
        self.stdout.write(f"{len(results)} SLO(s) evaluated, {burning} burning, {unknown} unknown")
