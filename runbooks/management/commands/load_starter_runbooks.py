from django.core.management.base import BaseCommand, CommandError

from runbooks.starter import load_starter_runbooks


class Command(BaseCommand):
    help = "Load the runbooks shipped with Vigil (runbooks/starter); running it again changes nothing."

    def handle(self, *args, **options):
        report = load_starter_runbooks()
        for line in report.lines:
            self.stdout.write(str(line))
        self.stdout.write(report.summary())
        if report.rejected:
            raise CommandError(f"{report.rejected} starter runbook(s) rejected", returncode=1)
