"""Ask the release gate from a script: exit 0 allowed, 3 refused (reasons printed), 2 bad input."""

from django.core.management.base import BaseCommand, CommandError

from governance.audit import audit_context
from governance.models import Service

from ...services import change_by_reference
from ...services.gate import gate_evaluate

EXIT_REFUSED = 3


class Command(BaseCommand):
    help = "Ask the release gate whether SERVICE VERSION may be deployed to ENV now."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # CONTRACTS.md names the option --version; Django's own --version gives way to it.
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--service", required=True, help="service slug")
        parser.add_argument("--env", required=True, help="environment, e.g. production")
        parser.add_argument("--version", dest="release", required=True, help="version, tag or commit")
        parser.add_argument("--change", default="", help="CHG-<n> (optional)")

    def handle(self, *args, service, env, release, change, **options):
        target = Service.objects.filter(slug=service).first()
        if target is None:
            raise CommandError(f"Unknown service {service!r}.", returncode=2)
        try:
            change_obj = change_by_reference(change) if change else None
        except Exception as exc:
            raise CommandError(str(getattr(exc, "message", exc)), returncode=2) from exc
        with audit_context(label="command:release_gate"):
            result = gate_evaluate(service=target, environment=env, version=release, change=change_obj)
        if result.allowed:
            self.stdout.write(f"allowed: {service} {release} → {env} (decision {result.decision.pk})")
            return
        for reason in result.reasons:
            extra = ", ".join(f"{k}={v}" for k, v in reason.items() if k not in ("code", "message"))
            self.stdout.write(f"{reason['code']}: {reason['message']}" + (f" [{extra}]" if extra else ""))
        self.stdout.write(f"refused: {service} {release} → {env} (decision {result.decision.pk})")
        raise SystemExit(EXIT_REFUSED)
