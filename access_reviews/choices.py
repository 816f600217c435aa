"""Stable values of the access-review app (never renamed: they are stored and exported)."""

from django.db import models

DEFAULT_CONTROLS = ["SOC 2 CC6.2", "SOC 2 CC6.3", "ISO 27001 A.5.18"]
PRIVILEGED_UNUSED_DAYS = 90
BULK_BATCH = 5000  # rows per INSERT when freezing a campaign or writing a snapshot


class EmploymentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    LEAVE = "leave", "On leave"
    TERMINATED = "terminated", "Terminated"


class Connector(models.TextChoices):
    NONE = "", "None (API, CSV or command)"
    VIGIL = "vigil", "Vigil itself"
    POSTGRESQL = "postgresql", "PostgreSQL"
    LDAP = "ldap", "LDAP"


class ImportKind(models.TextChoices):
    GRANTS = "grants", "Access snapshot"
    IDENTITIES = "identities", "Identities (HR)"


class ImportSource(models.TextChoices):
    API = "api", "API"
    CSV = "csv", "CSV upload"
    COMMAND = "command", "Command"
    CONNECTOR = "connector", "Connector"


class ImportStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ReviewerRule(models.TextChoices):
    MANAGER = "manager", "The identity's manager"
    SYSTEM_OWNER = "system_owner", "The system's owner"


class Decision(models.TextChoices):
    PENDING = "pending", "Pending"
    KEEP = "keep", "Keep"
    REVOKE = "revoke", "Revoke"
    MODIFY = "modify", "Modify"


class NoResponseDefault(models.TextChoices):
    KEEP = "keep", "Keep"
    REVOKE = "revoke", "Revoke"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    CLOSING = "closing", "Closed, awaiting sign-off"
    SIGNED_OFF = "signed_off", "Signed off"


class ItemChange(models.TextChoices):
    NEW = "new", "New since last campaign"
    UNCHANGED = "unchanged", "Unchanged"
    CHANGED = "changed", "Changed since last campaign"


class RemediationStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done (awaiting verification)"
    VERIFIED = "verified", "Verified by a snapshot"
