from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.audit import audit_context
from governance.errors import ValidationFailed


class Command(BaseCommand):
    help = (
        "Import SLOs and Prometheus DataSources from OpenSLO v1 YAML "
        "(all or nothing; the same file twice changes nothing)."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="YAML files (several documents each)")

    def handle(self, *args, paths, **options):
        from slos.openslo import import_yaml

        total = {"created": 0, "updated": 0, "unchanged": 0}
        for name in paths:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"{name}: no such file")
            try:
                with audit_context(label="command:slos_import"):
                    counts = import_yaml(path.read_text(encoding="utf-8"), name=path.name)
            except ValidationFailed as exc:
                raise CommandError(f"refused, nothing imported: {exc.message}") from None
            for key, value in counts.items():
                total[key] += value
            self.stdout.write(
                f"{path}: {counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged"
            )
        self.stdout.write(
            f"{len(paths)} file(s): {total['created']} created, {total['updated']} updated, "
            f"{total['unchanged']} unchanged"
        )
