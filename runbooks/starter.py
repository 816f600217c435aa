"""The runbooks that ship with Vigil (runbooks/starter/*.md), loaded idempotently."""

from pathlib import Path

from governance.models import Service, Team
from governance.services import service_create

from .services.importing import ImportReport, runbooks_import

STARTER_DIR = Path(__file__).resolve().parent / "starter"
VIGIL_SERVICE = "vigil"


def ensure_vigil_service(*, owner_team: Team | None = None) -> Service:
    """Vigil's own entry in the catalog: the starter procedures and restores are about it."""
    service = Service.objects.filter(slug=VIGIL_SERVICE).first()
    if service is None:
        service = service_create(
            slug=VIGIL_SERVICE,
            name="Vigil",
            tier=1,
            owner_team=owner_team,
            description="Vigil itself: incidents, backups, access reviews and runbooks.",
        )
    return service


def load_starter_runbooks(*, owner_team: Team | None = None) -> ImportReport:
    ensure_vigil_service(owner_team=owner_team)
    return runbooks_import(path=STARTER_DIR, publish=True, display_root=STARTER_DIR.parent)
