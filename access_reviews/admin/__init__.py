"""The access-review admin: the reviewer's page, the compliance desk, systems and their snapshots."""

from .config import (
    AccessGrantAdmin,
    CampaignAdmin,
    IdentityAdmin,
    OrphanedGrantAlertAdmin,
    RemediationAdmin,
    ReviewTemplateAdmin,
    SnapshotImportAdmin,
    SystemAdmin,
)
from .items import ReviewItemAdmin

__all__ = [
    "AccessGrantAdmin",
    "CampaignAdmin",
    "IdentityAdmin",
    "OrphanedGrantAlertAdmin",
    "RemediationAdmin",
    "ReviewItemAdmin",
    "ReviewTemplateAdmin",
    "SnapshotImportAdmin",
    "SystemAdmin",
]
