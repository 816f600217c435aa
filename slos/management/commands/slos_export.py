import sys
from pathlib import Path

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Export SLOs as OpenSLO v1 YAML, or as Prometheus recording and burn-rate alerting rules."

    def add_arguments(self, parser):
        parser.add_argument("out", help="output file, or - for standard output")
        parser.add_argument("--format", choices=["openslo", "prometheus-rules"], default="openslo")
        parser.add_argument("--slo", action="append", default=[], help="only these slugs (repeatable)")

    def handle(self, *args, out, format, slo, **options):
        from slos.models import SLO
        from slos.openslo import export_yaml
        from slos.rules import export_rules

        qs = SLO.objects.all()
        if slo:
            qs = qs.filter(slug__in=slo)
        text = export_yaml(qs) if format == "openslo" else export_rules(qs)
        if out == "-":
            sys.stdout.write(text)
        else:
            Path(out).write_text(text, encoding="utf-8")
        count = qs.count() if format == "openslo" else qs.filter(source_kind="prometheus", enabled=True).count()
        self.stderr.write(f"{count} SLO(s) exported as {format} to {out}")
