"""Demo runbooks: the starter set owned by the Platform team, and a procedure already due."""

from governance.audit import audit_context
from governance.models import Team

from .models import Runbook


def seed_runbooks(stdout) -> None:
    from django.contrib.auth import get_user_model

    from .services import procedures_create_due, runbook_update
    from .starter import load_starter_runbooks

    owner = Team.objects.filter(slug="platform").first()
    admin = get_user_model().objects.filter(username="noah.fischer").first()
    with audit_context(user=admin):
        report = load_starter_runbooks(owner_team=owner)
        if owner is not None:
            # Starter files name no owner: in the demo, the Platform team owns Vigil's own runbooks.
            for runbook in Runbook.objects.filter(
                owner_team__isnull=True, slug__in=[line.slug for line in report.lines]
            ):
                runbook_update(runbook=runbook, owner_team=owner)
        created = procedures_create_due()
    stdout.write(f"  demo data: runbooks ({report.summary()}; {created} procedure execution(s) due)")
