"""Alerting: on-call rotations, escalation policies, channels, routing rules and the notification outbox."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from governance.choices import Severity
from governance.models import Service, Team, TimeStampedModel

from .choices import (
    AttemptOutcome,
    ChannelKind,
    EscalationStatus,
    EventType,
    NotificationStatus,
    StepTarget,
)
from .fields import EncryptedTextField, mask

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


def _token() -> str:
    return secrets.token_urlsafe(32)


# --- on-call ------------------------------------------------------------------------------------


class OnCallRotation(TimeStampedModel):
    """Members take turns; the primary is the current member, the secondary the next one.

    Shifts are counted in the rotation's local wall-clock time from `starts_on` at
    `handoff_time`, so a 09:00 hand-off stays at 09:00 across DST changes.
    """

    name = models.CharField(max_length=120)
    # CASCADE: a rotation means nothing without its team.
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="rotations")
    shift_length = models.DurationField(help_text="e.g. 7 days, 1 day or 12:00:00.")
    handoff_time = models.TimeField(default="09:00", help_text="Local wall-clock time of the hand-off.")
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA zone, e.g. Europe/Berlin.")
    starts_on = models.DateField(help_text="The first shift (member #1) starts on this day at the hand-off time.")
    enabled = models.BooleanField(default=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="RotationMember", related_name="rotations")

    class Meta:
        ordering = ["team__name", "name", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(shift_length__gt=timedelta(0)), name="rotation_shift_positive")
        ]

    def __str__(self) -> str:
        return f"{self.team} / {self.name}"

    def clean(self):
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError({"time_zone": f"Unknown time zone {self.time_zone!r}."}) from exc
        if self.shift_length is not None and self.shift_length.total_seconds() < 3600:
            raise ValidationError({"shift_length": "A shift lasts at least one hour."})


class RotationMember(models.Model):
    rotation = models.ForeignKey(OnCallRotation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["rotation", "position", "pk"]
        constraints = [models.UniqueConstraint(fields=["rotation", "user"], name="rotation_member_once")]

    def __str__(self) -> str:
        return f"#{self.position} {self.user}"


class OnCallOverride(TimeStampedModel):
    """`user` is on call from `starts_at` to `ends_at`: in place of `replaces` (a swap or leave),
    or, when `replaces` is empty, as primary (the scheduled secondary stays)."""

    rotation = models.ForeignKey(OnCallRotation, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oncall_overrides")
    replaces = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["rotation", "starts_at", "pk"]
        indexes = [models.Index(fields=["rotation", "ends_at", "starts_at"], name="override_window")]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="override_ends_after")
        ]

    def __str__(self) -> str:
        who = f"{self.user} for {self.replaces}" if self.replaces_id else f"{self.user}"
        return f"{who} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%Y-%m-%d %H:%M}"


class CalendarFeed(TimeStampedModel):
    """A private iCalendar URL for one rotation or one person; the token is the credential."""

    token = models.CharField(max_length=64, unique=True, default=_token, editable=False)
    rotation = models.OneToOneField(
        OnCallRotation, null=True, blank=True, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="oncall_calendar"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(rotation__isnull=False, user__isnull=True) | Q(rotation__isnull=True, user__isnull=False),
                name="calendar_feed_one_owner",
            )
        ]

    def __str__(self) -> str:
        return f"calendar of {self.rotation or self.user}"


class CoverageGap(models.Model):
    """A window in the next 14 days where a team a SEV1 route pages has no primary or secondary.

    Derived state: each coverage check replaces the rows of the teams it checked.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="coverage_gaps")
    missing = models.CharField(max_length=16, help_text="primary, secondary or both")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    detected_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["starts_at", "pk"]

    def __str__(self) -> str:
        return f"{self.team}: no {self.missing} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%Y-%m-%d %H:%M}"


# --- channels and people ---------------------------------------------------------------------------


class Channel(TimeStampedModel):
    """Where notifications go. Secrets (URLs, routing keys, signing secrets, headers) are encrypted."""

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=32, choices=ChannelKind.choices)
    enabled = models.BooleanField(default=True)
    url = EncryptedTextField(
        blank=True, help_text="Webhook URL (Slack, generic), or the PagerDuty events URL (empty: the default)."
    )
    routing_key = EncryptedTextField(blank=True, help_text="PagerDuty integration (routing) key.")
    signing_secret = EncryptedTextField(blank=True, help_text="Generic webhook: HMAC-SHA256 secret.")
    headers = EncryptedTextField(blank=True, help_text="Generic webhook: extra headers, one `Name: value` a line.")
    source = models.CharField(max_length=120, blank=True, help_text="PagerDuty `payload.source` (default: vigil).")
    addresses = models.TextField(blank=True, help_text="Email: recipients, comma or newline separated.")

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["kind", "name"], name="channel_kind_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def target_masked(self) -> str:
        if self.kind == ChannelKind.EMAIL:
            return ", ".join(self.address_list)
        if self.kind == ChannelKind.PAGERDUTY_EVENTS_V2:
            return f"routing key {mask(self.routing_key)}"
        return mask(self.url)

    @property
    def address_list(self) -> list[str]:
        return [a.strip() for a in self.addresses.replace("\n", ",").split(",") if a.strip()]

    @property
    def header_dict(self) -> dict[str, str]:
        result = {}
        for line in (self.headers or "").splitlines():
            if ":" in line:
                name, value = line.split(":", 1)
                result[name.strip()] = value.strip()
        return result

    @property
    def endpoint(self) -> str:
        if self.kind == ChannelKind.PAGERDUTY_EVENTS_V2:
            return self.url or PAGERDUTY_EVENTS_URL
        return self.url

    def clean(self):
        from .validators import validate_channel

        validate_channel(self)


class ContactMethod(TimeStampedModel):
    """How one person is reached when a step or a caller notifies them.

    Ordered by `position`; every method is used. A method points at a channel (a
    personal Slack webhook, a PagerDuty service) or is an email address (empty:
    the user's own). A person with no methods gets email at their user address.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods")
    # PROTECT: a channel someone is reached through is disabled, not deleted.
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="contacts")
    email = models.EmailField(blank=True, help_text="Empty with no channel: the user's own email address.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["user", "position", "pk"]

    def __str__(self) -> str:
        return f"{self.user}: {self.channel or self.email or 'email'}"


# --- escalation -------------------------------------------------------------------------------------


class EscalationPolicy(TimeStampedModel):
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    repeat = models.PositiveSmallIntegerField(
        default=0, help_text="How many more times the whole list of steps runs after the first pass."
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name


class EscalationStep(models.Model):
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    wait_minutes = models.PositiveIntegerField(default=0, help_text="Minutes after the previous step.")
    target = models.CharField(max_length=16, choices=StepTarget.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["policy", "position", "pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(target="user") | Q(user__isnull=False), name="step_user_needs_user"),
            models.CheckConstraint(
                condition=~Q(target="channel") | Q(channel__isnull=False), name="step_channel_needs_channel"
            ),
        ]

    def __str__(self) -> str:
        what = (
            self.user if self.target == StepTarget.USER else self.channel if self.target == StepTarget.CHANNEL else ""
        )
        return f"after {self.wait_minutes} min: {self.get_target_display()} {what or ''}".strip()

    def clean(self):
        if self.target == StepTarget.USER and not self.user_id:
            raise ValidationError({"user": "Choose the user this step notifies."})
        if self.target == StepTarget.CHANNEL and not self.channel_id:
            raise ValidationError({"channel": "Choose the channel this step notifies."})


class Escalation(TimeStampedModel):
    """One running escalation: steps fire at their due time until it is stopped."""

    key = models.CharField(max_length=200, unique=True)
    # PROTECT: a policy with escalations on record is edited, not deleted.
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.PROTECT, related_name="escalations")
    status = models.CharField(max_length=16, choices=EscalationStatus.choices, default=EscalationStatus.RUNNING)
    event_type = models.CharField(max_length=64, choices=EventType.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices, blank=True)
    subject = models.CharField(max_length=500)
    body = models.TextField(blank=True)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    links = models.JSONField(default=list, blank=True)
    data = models.JSONField(default=dict, blank=True)
    dedup_key = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField()
    next_step_index = models.PositiveIntegerField(default=0)
    next_due_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=500, blank=True)
    log = models.JSONField(default=list, blank=True, help_text="One entry per fired step.")

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["status", "next_due_at"], name="escalation_due")]

    def __str__(self) -> str:
        return self.key


# --- routing --------------------------------------------------------------------------------------


class RoutingRule(TimeStampedModel):
    """Which events go to which channels and escalation policy.

    Empty criteria match everything. Every matching rule contributes its channels;
    the first matching rule (by position) with a policy gives the escalation policy.
    """

    name = models.CharField(max_length=120)
    position = models.PositiveIntegerField(default=100)
    enabled = models.BooleanField(default=True)
    event_types = models.JSONField(default=list, blank=True, help_text="Event types; empty: all.")
    min_severity = models.CharField(
        max_length=8, choices=Severity.choices, blank=True, help_text="Only this severity or worse; empty: any."
    )
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="Also matches its services."
    )
    channels = models.ManyToManyField(Channel, blank=True, related_name="routing_rules")
    escalation_policy = models.ForeignKey(
        EscalationPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="routing_rules"
    )

    class Meta:
        ordering = ["position", "pk"]
        indexes = [models.Index(fields=["enabled", "position"], name="routing_enabled_position")]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        unknown = sorted(set(self.event_types or []) - set(EventType.values))
        if unknown:
            raise ValidationError({"event_types": f"Unknown event type(s): {', '.join(unknown)}."})


# --- the outbox -------------------------------------------------------------------------------------


class Notification(models.Model):
    """One event × one destination, written in the caller's transaction; delivered by a task."""

    # `idempotency_key` is the caller's; `key` adds the destination and is unique.
    key = models.CharField(max_length=300, unique=True)
    idempotency_key = models.CharField(max_length=255, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    event_type = models.CharField(max_length=64, choices=EventType.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices, blank=True)
    subject = models.CharField(max_length=500)
    kind = models.CharField(max_length=32, choices=ChannelKind.choices)
    # PROTECT: a channel with history is disabled, not deleted.
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="notifications")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_address = models.CharField(max_length=254, blank=True, help_text="Direct email to a person.")
    escalation = models.ForeignKey(
        Escalation, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    context = models.JSONField(default=dict, help_text="What the payload is rendered from.")
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Dead-lettered when `attempts` reaches this; a manual retry raises it by the configured maximum.
    attempt_limit = models.PositiveSmallIntegerField(default=5)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="A worker is sending until then.")
    swept_at = models.DateTimeField(null=True, blank=True, help_text="Last re-dispatched by the sweeper.")
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    discard_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notification_due"),
            models.Index(fields=["-created_at", "-id"], name="notification_recent"),
            models.Index(fields=["event_type", "-created_at"], name="notification_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.destination}"

    @property
    def destination(self) -> str:
        if self.channel_id:
            return str(self.channel) + (f" ({self.recipient})" if self.recipient_id else "")
        return self.to_address


class DeliveryAttempt(models.Model):
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["notification", "number", "pk"]
        # The evidence export reads a period's attempts in start order.
        indexes = [models.Index(fields=["started_at", "id"], name="attempt_started")]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.outcome}"
