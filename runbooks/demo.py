"""Demo runbooks: the starter set, owned by the Platform team; their schedules start now."""

from governance.audit import audit_context
from governance.models import Team


def seed_runbooks(stdout) -> None:
    from django.contrib.auth import get_user_model

    from .services import procedures_create_due
    from .starter import load_starter_runbooks

    owner = Team.objects.filter(slug="platform").first()
    admin = get_user_model().objects.filter(username="noah.fischer").first()
    with audit_context(user=admin):
        report = load_starter_runbooks(owner_team=owner, actor=admin)
        created = procedures_create_due()
    stdout.write(f"  demo data: runbooks ({report.summary()}; {created} procedure execution(s) due)")
