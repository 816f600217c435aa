from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .choices import JobOutcome, SecurityEventKind, ServiceTier

UNASSIGNED_SERVICE_SLUG = "unassigned"


class TimeStampedModel(models.Model):
    """The house base: every model knows when it was created and last changed."""

    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Team(TimeStampedModel):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    # A manager who leaves keeps the team; escalations fall back to members.
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_teams",
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Service(TimeStampedModel):
    """A service or subsystem of the catalog; everything Vigil governs points at one."""

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    tier = models.PositiveSmallIntegerField(
        choices=ServiceTier.choices,
        default=ServiceTier.TIER_2,
        validators=[MinValueValidator(1), MaxValueValidator(3)],
    )
    # PROTECT: a team owning services must hand them over before it goes.
    owner_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="services")
    description = models.TextField(blank=True)
    links = models.JSONField(default=list, blank=True, help_text="List of {label, url}.")

    class Meta:
        ordering = ["slug"]
        indexes = [models.Index(fields=["tier", "slug"], name="service_tier_slug")]
        constraints = [models.CheckConstraint(condition=Q(tier__gte=1, tier__lte=3), name="service_tier_1_to_3")]

    def __str__(self) -> str:
        return self.name


class ApiKey(TimeStampedModel):
    """A scoped machine credential. Only a SHA-256 of the secret is stored."""

    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    hashed_secret = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    def is_active(self, *, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AuditEvent(models.Model):
    """One write, as it happened. Append-only: database triggers refuse UPDATE and DELETE.

    Actor columns are plain ids (no FK constraint): deleting a user must not
    rewrite history, and an ON DELETE action would be an UPDATE the triggers refuse.
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    actor_label = models.CharField(max_length=200, help_text="Who, as shown at the time.")
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=100, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text="field → [before, after]")
    request_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        permissions = [("export_evidence", "Can export evidence bundles")]
        indexes = [
            models.Index(fields=["object_type", "object_id", "-occurred_at"], name="audit_object"),
            models.Index(fields=["-occurred_at", "-id"], name="audit_recent"),
            # The audit changelist's exact searches (an OR with the trigram-indexed actor search).
            models.Index(fields=["object_id"], name="audit_object_id"),
            models.Index(fields=["request_id"], name="audit_request_id"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type}#{self.object_id}"


class JobRun(models.Model):
    """The job ledger: one row per run of a scheduled job."""

    job = models.CharField(max_length=120)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=JobOutcome.choices, default=JobOutcome.RUNNING)
    summary = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [
            models.Index(fields=["job", "outcome", "-started_at"], name="jobrun_job_outcome"),
            models.Index(fields=["-started_at", "-id"], name="jobrun_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.outcome} at {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class AuditSeal(models.Model):
    """One link of the audit hash chain: the `seq`-th sealed event and its hash.

    hash = SHA-256 of the event's canonical JSON, which includes `seq` and the previous link's hash
    (governance/chain.py documents the exact bytes). Append-only like the events themselves.
    """

    seq = models.BigIntegerField(primary_key=True)
    # No FK constraint: a deleted event must leave its seal behind, which is how verification notices.
    event = models.OneToOneField(
        AuditEvent, on_delete=models.DO_NOTHING, db_constraint=False, related_name="seal", unique=True
    )
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.hash[:12]}"


class AuditSigningKey(models.Model):
    """Every public key that ever signed a checkpoint, so old checkpoints verify after a rotation."""

    key_id = models.CharField(max_length=16, primary_key=True)
    public_key_pem = models.TextField()
    first_used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["first_used_at"]

    def __str__(self) -> str:
        return self.key_id


class AuditCheckpoint(models.Model):
    """A signed statement: the chain's `seq`-th link has this hash (Ed25519 over the canonical statement)."""

    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField(default=timezone.now)
    key = models.ForeignKey(AuditSigningKey, on_delete=models.PROTECT, related_name="checkpoints")
    signature = models.CharField(max_length=128, help_text="Ed25519 signature, hex")

    class Meta:
        ordering = ["-seq", "-id"]
        indexes = [models.Index(fields=["-seq"], name="checkpoint_recent")]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} {self.hash[:12]}"


class ScorecardSnapshot(models.Model):
    """One dimension's score for one quarter, kept so the trend is not recomputed from rows that change.

    The current quarter's row is refreshed daily; once the quarter is over it is never written again.
    """

    quarter = models.CharField(max_length=7, help_text="e.g. 2026Q4")
    dimension = models.CharField(max_length=80)
    title = models.CharField(max_length=120)
    score = models.PositiveSmallIntegerField(validators=[MaxValueValidator(100)])
    facts = models.JSONField(default=list)
    next_steps = models.JSONField(default=list)
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-quarter", "dimension"]
        constraints = [models.UniqueConstraint(fields=["quarter", "dimension"], name="scorecard_quarter_dimension")]

    def __str__(self) -> str:
        return f"{self.quarter} {self.dimension}: {self.score}"


class SecurityEvent(models.Model):
    """One refused attempt: a failed login, a lockout, a refused API key, scope or role, an outbound URL refused.

    Written by governance.security with one INSERT on the refused request's path and never changed:
    no code updates or deletes a row, and the admin shows them read-only. Who (`username`, the API
    key's `api_key_prefix`), what (`kind`, `detail`), where (`ip_address`, `path`) and when. The
    prefix is the public part of a key; the secret part is never stored.
    """

    occurred_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=32, choices=SecurityEventKind.choices)
    username = models.CharField(max_length=150, blank=True, help_text="The user name tried, or the person refused.")
    api_key_prefix = models.CharField(max_length=16, blank=True, verbose_name="API key prefix")
    ip_address = models.GenericIPAddressField(null=True, blank=True, verbose_name="IP address")
    path = models.CharField(max_length=300, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        indexes = [
            models.Index(fields=["-occurred_at", "-id"], name="security_event_recent"),
            # The rate check, the dashboard's 24 h counts and the scrape's GROUP BY kind.
            models.Index(fields=["kind", "occurred_at"], name="security_event_kind"),
            # The admin's exact searches.
            models.Index(fields=["username"], name="security_event_username"),
            models.Index(fields=["ip_address"], name="security_event_ip"),
            models.Index(fields=["api_key_prefix"], name="security_event_key_prefix"),
        ]

    def __str__(self) -> str:
        who = self.username or self.api_key_prefix or "unknown"
        return f"{self.get_kind_display()}: {who} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"
