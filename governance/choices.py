from django.db import models


class ServiceTier(models.IntegerChoices):
    TIER_1 = 1, "Tier 1 (critical)"
    TIER_2 = 2, "Tier 2"
    TIER_3 = 3, "Tier 3"


class Severity(models.TextChoices):
    """The severities of CONTRACTS.md, shared by incidents, routing and every event; SEV1 is the worst."""

    SEV1 = "SEV1", "SEV1 (critical)"
    SEV2 = "SEV2", "SEV2 (major)"
    SEV3 = "SEV3", "SEV3 (minor)"


# Lower rank is more severe: a rule with minimum SEV2 matches SEV1 and SEV2.
SEVERITY_RANK = {Severity.SEV1: 1, Severity.SEV2: 2, Severity.SEV3: 3}


class JobOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class CheckStatus(models.TextChoices):
    """Health check outcome, ordered from best to worst."""

    OK = "ok", "OK"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class Role(models.TextChoices):
    """The groups of CONTRACTS.md; the value is the group's name."""

    INCIDENT_COMMANDER = "Incident Commander"
    RESPONDER = "Responder"
    ACCESS_REVIEWER = "Access Reviewer"
    COMPLIANCE_MANAGER = "Compliance Manager"
    AUDITOR = "Auditor"
    OPS_ADMIN = "Ops Admin"
    CHANGE_MANAGER = "Change Manager"


class Scope(models.TextChoices):
    INCIDENTS_READ = "incidents:read"
    INCIDENTS_WRITE = "incidents:write"
    ALERTS_INGEST = "alerts:ingest"
    BACKUPS_REPORT = "backups:report"
    BACKUPS_READ = "backups:read"
    ACCESS_IMPORT = "access:import"
    ACCESS_READ = "access:read"
    CHANGES_WRITE = "changes:write"
    CHANGES_GATE = "changes:gate"
    SLOS_WRITE = "slos:write"
    SLOS_READ = "slos:read"
    HEALTH_READ = "health:read"


class SecurityEventKind(models.TextChoices):
    """What was refused (governance.security records them); values are stable, they label a Prometheus series."""

    LOGIN_FAILED = "login_failed", "Failed login"
    LOCKED_OUT = "locked_out", "Account locked out"
    API_KEY_UNKNOWN = "api_key_unknown", "Unknown API key"
    API_KEY_REVOKED = "api_key_revoked", "Revoked API key"
    API_KEY_EXPIRED = "api_key_expired", "Expired API key"
    SCOPE_REFUSED = "scope_refused", "API key without the scope"
    ROLE_REFUSED = "role_refused", "Person without the role"
    OUTBOUND_URL_REFUSED = "outbound_url_refused", "Outbound URL refused"
