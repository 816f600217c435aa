"""Identities, systems and their grants; review templates, campaigns, items and remediations."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from alerting.fields import EncryptedTextField
from governance.models import TimeStampedModel

from .choices import (
    DEFAULT_CONTROLS,
    CampaignStatus,
    Connector,
    Decision,
    EmploymentStatus,
    ImportKind,
    ImportSource,
    ImportStatus,
    ItemChange,
    NoResponseDefault,
    RemediationStatus,
    ReviewerRule,
)


def default_controls() -> list[str]:
    return list(DEFAULT_CONTROLS)


def default_reminder_offsets() -> list[int]:
    return [7, 3, 1]


class Identity(TimeStampedModel):
    """A person from the HR source; grants are matched to them by email."""

    email = models.EmailField(unique=True, help_text="Lower case; the key grants are matched on.")
    name = models.CharField(max_length=200, blank=True)
    # SET_NULL: a manager who leaves HR's export must not delete their reports.
    manager = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports")
    department = models.CharField(max_length=120, blank=True)
    employment_status = models.CharField(
        max_length=16, choices=EmploymentStatus.choices, default=EmploymentStatus.ACTIVE, db_index=True
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="identity"
    )

    class Meta:
        ordering = ["email"]
        verbose_name_plural = "identities"

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class System(TimeStampedModel):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    # PROTECT: a system owner hands the system over before their account goes.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="owned_systems"
    )
    privileged = models.BooleanField(default=False, help_text="Every grant on this system counts as privileged.")
    connector = models.CharField(max_length=16, choices=Connector.choices, blank=True, default=Connector.NONE)
    connector_settings = models.JSONField(
        default=dict,
        blank=True,
        help_text="PostgreSQL: {dsn} without the password. LDAP: {url, bind_dn, base_dn}. Never secrets.",
    )
    connector_secret = EncryptedTextField(blank=True, help_text="DSN or bind password; encrypted at rest.")
    pull_enabled = models.BooleanField(default=False, help_text="Pull a snapshot with the connector every day.")
    last_pulled_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class AccessGrant(TimeStampedModel):
    """One account × entitlement on a system as the newest snapshot shows it."""

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="grants")
    account = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    # SET_NULL: an identity removed from HR leaves the grant unmatched, which is what review must see.
    identity = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="grants")
    entitlement = models.CharField(max_length=300)
    privileged = models.BooleanField(default=False)
    last_login_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["system", "account", "entitlement", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["system", "account", "entitlement"], name="grant_unique_per_system")
        ]
        indexes = [
            models.Index(fields=["identity", "system"], name="grant_identity_system"),
            models.Index(fields=["system", "privileged", "last_login_at"], name="grant_privileged_login"),
        ]

    def __str__(self) -> str:
        return f"{self.account} · {self.entitlement} on {self.system_id}"

    @property
    def matched(self) -> bool:
        return self.identity_id is not None


class SnapshotImport(models.Model):
    """One import (API, CSV, command or connector): counts and the SHA-256 of what arrived."""

    kind = models.CharField(max_length=16, choices=ImportKind.choices, default=ImportKind.GRANTS)
    system = models.ForeignKey(System, null=True, blank=True, on_delete=models.CASCADE, related_name="imports")
    source = models.CharField(max_length=16, choices=ImportSource.choices)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.SUCCEEDED)
    imported_at = models.DateTimeField(default=timezone.now, db_index=True)
    imported_by = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    rows = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    remediations_verified = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-imported_at", "-pk"]
        indexes = [models.Index(fields=["system", "-imported_at"], name="import_system_recent")]
        permissions = [("import_snapshot", "Can import access snapshots and identities")]

    def __str__(self) -> str:
        where = self.system.slug if self.system_id else "identities"
        return f"{where} {self.status} at {self.imported_at:%Y-%m-%d %H:%M}"


class ReviewTemplate(TimeStampedModel):
    name = models.CharField(max_length=120, unique=True)
    systems = models.ManyToManyField(System, related_name="templates")
    privileged_only = models.BooleanField(default=False, help_text="Only privileged grants are in scope.")
    reviewer_rule = models.CharField(max_length=16, choices=ReviewerRule.choices, default=ReviewerRule.MANAGER)
    # PROTECT: a template must always have someone to send items to.
    fallback_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="fallback_templates"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="owned_review_templates",
        help_text="The campaign owner: hears about overdue reviewers, reviews the fallback reviewer's own access.",
    )
    due_days = models.PositiveSmallIntegerField(default=21, validators=[MinValueValidator(1)])
    reminder_offsets = models.JSONField(
        default=default_reminder_offsets, blank=True, help_text="Days before the due date, e.g. [7, 3, 1]."
    )
    escalation_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days after the due date the campaign stays open (escalated) before it closes."
    )
    no_response_default = models.CharField(
        max_length=8, choices=NoResponseDefault.choices, default=NoResponseDefault.REVOKE
    )
    remediation_days = models.PositiveSmallIntegerField(default=14, validators=[MinValueValidator(1)])
    controls = models.JSONField(default=default_controls, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Two distinct people: the fallback's own access goes to the owner, and never back.
            models.CheckConstraint(condition=~Q(fallback_reviewer=F("owner")), name="template_fallback_not_owner")
        ]

    def __str__(self) -> str:
        return self.name


class Campaign(TimeStampedModel):
    template = models.ForeignKey(ReviewTemplate, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=200)
    period = models.CharField(max_length=16, help_text="Quarter, e.g. 2026-Q4 (or a label for ad-hoc campaigns).")
    status = models.CharField(max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.ACTIVE)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_campaigns")
    launched_at = models.DateTimeField(default=timezone.now)
    launched_by = models.CharField(max_length=200, blank=True)
    due_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    signed_off_at = models.DateTimeField(null=True, blank=True)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sign_off_note = models.TextField(blank=True)
    snapshot_sha256 = models.CharField(max_length=64)
    item_count = models.PositiveIntegerField(default=0)
    launch_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-launched_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["template", "period"], name="campaign_once_per_period")]
        permissions = [
            ("launch_campaign", "Can launch an access review campaign"),
            ("sign_off_campaign", "Can sign off an access review campaign"),
            ("export_campaign_evidence", "Can export access review evidence"),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="campaign_status_due")]

    def __str__(self) -> str:
        return self.name


class ReviewItem(models.Model):
    """A grant frozen at launch, and the reviewer's decision on it."""

    # CASCADE is moot: campaigns are evidence and are never deleted (the admin refuses).
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items")
    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="+")
    account = models.CharField(max_length=200)
    identity = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    entitlement = models.CharField(max_length=300)
    privileged = models.BooleanField(default=False)
    last_login_at = models.DateTimeField(null=True, blank=True)
    change = models.CharField(max_length=16, choices=ItemChange.choices, default=ItemChange.NEW)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_items")
    decision = models.CharField(max_length=8, choices=Decision.choices, default=Decision.PENDING)
    modified_entitlement = models.CharField(max_length=300, blank=True)
    justification = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    defaulted = models.BooleanField(default=False, help_text="Decided by the no-response default at close.")
    delegated_from = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    delegation_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["campaign", "system", "account", "entitlement", "pk"]
        indexes = [
            models.Index(fields=["reviewer", "decision", "campaign"], name="item_reviewer_decision"),
            models.Index(fields=["campaign", "decision"], name="item_campaign_decision"),
        ]
        permissions = [
            ("decide_reviewitem", "Can decide and delegate their own review items"),
            ("view_all_reviewitem", "Can see every reviewer's items"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(decision="pending") | Q(decided_at__isnull=False), name="item_decided_has_time"
            ),
            models.CheckConstraint(
                condition=Q(decision="keep") | Q(decision="pending") | ~Q(justification=""),
                name="item_revoke_modify_justified",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} · {self.entitlement} ({self.decision})"


class Remediation(TimeStampedModel):
    """The work a revoke or modify opens; verified only by a later snapshot."""

    item = models.OneToOneField(ReviewItem, on_delete=models.CASCADE, related_name="remediation")
    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="remediations")
    account = models.CharField(max_length=200)
    entitlement = models.CharField(max_length=300)
    target_entitlement = models.CharField(max_length=300, blank=True, help_text="For a modify: what should remain.")
    ticket_url = models.URLField(blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="remediations"
    )
    status = models.CharField(max_length=16, choices=RemediationStatus.choices, default=RemediationStatus.OPEN)
    due_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by_import = models.ForeignKey(
        SnapshotImport, null=True, blank=True, on_delete=models.PROTECT, related_name="verified_remediations"
    )
    flagged_at = models.DateTimeField(null=True, blank=True, help_text="Still unverified after its deadline.")

    class Meta:
        ordering = ["due_at", "pk"]
        indexes = [
            models.Index(fields=["system", "status"], name="remediation_system_status"),
            models.Index(fields=["status", "due_at"], name="remediation_status_due"),
        ]

    def __str__(self) -> str:
        return f"Remediation #{self.pk}: {self.account} · {self.entitlement}"


class OrphanedGrantAlert(models.Model):
    """A terminated identity seen holding a grant: raised once per grant and day it is seen."""

    grant_key = models.CharField(max_length=600)
    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="+")
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="+")
    account = models.CharField(max_length=200)
    entitlement = models.CharField(max_length=300)
    seen_on = models.DateField()
    raised_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-raised_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["grant_key", "seen_on"], name="orphan_once_per_day")]

    def __str__(self) -> str:
        return f"{self.identity_id} still holds {self.entitlement} on {self.system_id}"


class PendingUpload(models.Model):
    """A CSV previewed in the admin, kept until it is confirmed or discarded (what was previewed is what is written)."""

    kind = models.CharField(max_length=16, choices=ImportKind.choices)
    system = models.ForeignKey(System, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} upload {self.sha256[:12]}"
