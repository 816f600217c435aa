from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from alerting.fields import EncryptedTextField
from changes.models import Deployment
from governance.choices import Severity
from governance.models import Service, Team, TimeStampedModel
from incidents.models import Incident

from .choices import AlertLevel, BudgetStatus, ExceptionStatus, SLIKind, SLOWindow, SourceKind


def validate_http_url(value: str) -> None:
    if not value.lower().startswith(("http://", "https://")):
        raise ValidationError("Use an http:// or https:// URL.")


class PrometheusSource(TimeStampedModel):
    """A Prometheus server SLIs are read from. Usually on a private address: not subject to the
    notification SSRF guard, but only http(s)."""

    name = models.SlugField(max_length=100, unique=True)
    url = models.URLField(max_length=500, validators=[validate_http_url], help_text="e.g. http://prometheus:9090")
    bearer_token = EncryptedTextField(blank=True, help_text="Optional; encrypted at rest.")
    timeout_seconds = models.FloatField(default=5.0, validators=[MinValueValidator(0.1), MaxValueValidator(60)])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SLO(TimeStampedModel):
    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # PROTECT: an SLO's history belongs to its service; services are renamed, never deleted.
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="slos")
    owner_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="slos")
    sli_kind = models.CharField(max_length=16, choices=SLIKind.choices, default=SLIKind.RATIO)
    latency_threshold_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Latency SLIs: the threshold the good counter counts below."
    )
    objective = models.DecimalField(
        max_digits=9,
        decimal_places=7,
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal("0.9999999"))],
        help_text="Fraction of good events, e.g. 0.999.",
    )
    window = models.CharField(max_length=8, choices=SLOWindow.choices, default=SLOWindow.ROLLING_28D)
    source_kind = models.CharField(max_length=16, choices=SourceKind.choices, default=SourceKind.PUSHED)
    prometheus_source = models.ForeignKey(
        PrometheusSource, null=True, blank=True, on_delete=models.PROTECT, related_name="slos"
    )
    good_query = models.CharField(max_length=500, blank=True, help_text="Series selector of the good counter.")
    total_query = models.CharField(max_length=500, blank=True, help_text="Series selector of the total counter.")
    warning_threshold = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.8"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("0.999"))],
        help_text="Budget policy: warn when this fraction of the error budget is consumed.",
    )
    incident_severity = models.CharField(
        max_length=8, choices=Severity.choices, blank=True, help_text="Open an incident on a page burn (empty: no)."
    )
    enabled = models.BooleanField(default=True)

    # The latest evaluation (the history is SLOStatus).
    budget_status = models.CharField(max_length=16, choices=BudgetStatus.choices, default=BudgetStatus.UNKNOWN)
    alert = models.CharField(max_length=8, choices=AlertLevel.choices, blank=True)
    sli = models.FloatField(null=True, blank=True)
    error_budget_remaining = models.FloatField(null=True, blank=True)
    burn_rates = models.JSONField(default=dict, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    warning_since = models.DateTimeField(null=True, blank=True)
    exhausted_since = models.DateTimeField(null=True, blank=True)
    # Raw pushed intervals before this are purged (their hourly roll-ups stay); pushes before it are refused.
    raw_purged_before = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "SLO"
        indexes = [
            models.Index(fields=["service", "budget_status"], name="slo_service_status"),
            models.Index(fields=["budget_status", "slug"], name="slo_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(source_kind="pushed") | Q(prometheus_source__isnull=False), name="slo_prometheus_has_source"
            ),
        ]

    def __str__(self) -> str:
        return self.slug

    def clean(self):
        errors = {}
        if self.source_kind == SourceKind.PROMETHEUS:
            if not self.prometheus_source_id:
                errors["prometheus_source"] = "A Prometheus SLO needs a source."
            if not self.good_query.strip():
                errors["good_query"] = "A Prometheus SLO needs the good counter's selector."
            if not self.total_query.strip():
                errors["total_query"] = "A Prometheus SLO needs the total counter's selector."
        if self.sli_kind == SLIKind.LATENCY and not self.latency_threshold_ms:
            errors["latency_threshold_ms"] = "A latency SLI needs its threshold."
        if errors:
            raise ValidationError(errors)

    @property
    def error_budget(self) -> float:
        return 1.0 - float(self.objective)


class SLOStatus(models.Model):
    """One evaluation: what charts and reports read without recomputing."""

    slo = models.ForeignKey(SLO, on_delete=models.CASCADE, related_name="statuses")
    evaluated_at = models.DateTimeField()
    succeeded = models.BooleanField(default=True)
    error = models.TextField(blank=True)
    good = models.FloatField(null=True, blank=True)
    total = models.FloatField(null=True, blank=True)
    sli = models.FloatField(null=True, blank=True)
    error_budget_remaining = models.FloatField(null=True, blank=True)
    burn_rates = models.JSONField(default=dict, blank=True)
    budget_status = models.CharField(max_length=16, choices=BudgetStatus.choices)
    alert = models.CharField(max_length=8, choices=AlertLevel.choices, blank=True)

    class Meta:
        ordering = ["-evaluated_at", "-id"]
        verbose_name = "SLO status"
        verbose_name_plural = "SLO status history"
        indexes = [models.Index(fields=["slo", "-evaluated_at", "-id"], name="slostatus_recent")]

    def __str__(self) -> str:
        return f"{self.slo_id} at {self.evaluated_at:%Y-%m-%d %H:%M}: {self.budget_status}"


class BurnEpisode(models.Model):
    """A page or ticket burn from the evaluation that started it to the one that ended it."""

    slo = models.ForeignKey(SLO, on_delete=models.CASCADE, related_name="episodes")
    level = models.CharField(max_length=8, choices=AlertLevel.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    peak_burn_rates = models.JSONField(default=dict, blank=True)
    # SET_NULL never happens (incidents and deployments are history, not deleted).
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    suspect_deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="slo_burn_episodes"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["slo", "-started_at"], name="burnepisode_recent")]
        constraints = [
            models.UniqueConstraint(
                fields=["slo", "level"], condition=Q(ended_at__isnull=True), name="burnepisode_one_open_per_level"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")), name="burnepisode_ends_after"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_level_display()} burn of {self.slo_id} from {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self) -> timedelta | None:
        return self.ended_at - self.started_at if self.ended_at else None


class PushedInterval(models.Model):
    """Counts pushed through the API, one row per interval start (idempotent on it)."""

    slo = models.ForeignKey(SLO, on_delete=models.CASCADE, related_name="intervals")
    start = models.DateTimeField()
    end = models.DateTimeField()
    good = models.BigIntegerField()
    total = models.BigIntegerField()

    class Meta:
        ordering = ["-start"]
        constraints = [
            models.UniqueConstraint(fields=["slo", "start"], name="pushedinterval_unique_start"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="pushedinterval_end_after_start"),
            models.CheckConstraint(
                condition=Q(good__gte=0) & Q(total__gte=F("good")), name="pushedinterval_counts_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.slo_id} {self.start:%Y-%m-%d %H:%M}: {self.good}/{self.total}"


class HourlyCount(models.Model):
    """Roll-up of pushed intervals by the hour their start falls in, kept by the push service:
    a 28-day window reads 672 rows, not 40 320 minutes."""

    slo = models.ForeignKey(SLO, on_delete=models.CASCADE, related_name="hourly_counts")
    hour = models.DateTimeField()
    good = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-hour"]
        constraints = [models.UniqueConstraint(fields=["slo", "hour"], name="hourlycount_unique_hour")]

    def __str__(self) -> str:
        return f"{self.slo_id} {self.hour:%Y-%m-%d %H}h: {self.good}/{self.total}"


class BudgetException(TimeStampedModel):
    """A Change Manager's permission to deploy a service whose error budget is exhausted."""

    # PROTECT: an exception is evidence of a decision.
    slo = models.ForeignKey(SLO, on_delete=models.PROTECT, related_name="exceptions")
    reason = models.TextField()
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    status = models.CharField(max_length=16, choices=ExceptionStatus.choices, default=ExceptionStatus.REQUESTED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-valid_from", "-id"]
        permissions = [("approve_budgetexception", "Can approve error-budget exceptions")]
        indexes = [models.Index(fields=["slo", "status", "valid_until"], name="budgetexception_valid")]
        constraints = [
            models.CheckConstraint(condition=Q(valid_until__gt=F("valid_from")), name="budgetexception_ends_after"),
        ]

    def __str__(self) -> str:
        return f"Budget exception for {self.slo_id} ({self.get_status_display().lower()})"
