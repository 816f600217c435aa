"""The runbooks that ship with Vigil (runbooks/starter/*.md), loaded idempotently.

They name no service (they are about Vigil and the organisation's routines, not one product
service), so they load on a fresh install with an empty catalog; `owner_team` gives the
service-less ones an owner (whose on-call primary runs the scheduled procedures).
"""

from pathlib import Path

from governance.models import Team

from .models import Runbook
from .services import runbook_update
from .services.importing import ImportReport, runbooks_import

STARTER_DIR = Path(__file__).resolve().parent / "starter"


def load_starter_runbooks(*, owner_team: Team | None = None, actor=None) -> ImportReport:
    report = runbooks_import(path=STARTER_DIR, publish=True, actor=actor, display_root=STARTER_DIR.parent)
    if owner_team is not None:
        slugs = [line.slug for line in report.lines if line.slug]
        for runbook in Runbook.objects.filter(owner_team__isnull=True, slug__in=slugs):
            runbook_update(runbook=runbook, owner_team=owner_team, actor=actor)
    return report
