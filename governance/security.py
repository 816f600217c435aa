"""Security signals: every refused sign-in, API key, scope, role or outbound URL is a SecurityEvent.

The refusing code calls `security_event_record` (or `api_key_refused`); recording is one INSERT in
its own savepoint and never raises, so the refused request answers as it would have. When the
authentication and authorisation refusals of the last SECURITY_ALERT_WINDOW_SECONDS reach
SECURITY_ALERT_THRESHOLD, the kernel's notifiers (alerting's outbox) get one
`security.auth_failures` per window: its idempotency key names the window, and a cache flag set
after commit spares the rest of the window even the count.

Also here: the `vigil_security_events_total{kind}` counter and the dashboard panel.
"""

import ipaddress
import logging
import secrets
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from . import audit
from .choices import SecurityEventKind
from .metrics import once_per_scrape
from .models import SecurityEvent
from .registries import DashboardPanel, MetricFamily, dashboard_panels, metrics, notifiers
from .services import API_KEY_PREFIX, _hash, _lookup

logger = logging.getLogger(__name__)

AUTH_FAILURES_EVENT = "security.auth_failures"
# What counts towards the alert: people and machines refused at the door. A refused outbound URL is
# an administrator's configuration (or a re-pointed DNS name), recorded and counted but not paged.
AUTH_FAILURE_KINDS = tuple(kind.value for kind in SecurityEventKind if kind != SecurityEventKind.OUTBOUND_URL_REFUSED)
LATEST_SHOWN = 8
TOP_SOURCES = 5


def _ip(value) -> str | None:
    """A valid address or None: the column is `inet` on PostgreSQL, and a bad value must not lose the event."""
    try:
        return str(ipaddress.ip_address(str(value or "").split("%")[0].strip()))
    except ValueError:
        return None


def security_event_record(
    *, kind: str, request=None, username: str = "", api_key_prefix: str = "", detail: str = ""
) -> SecurityEvent | None:
    """Record one refusal. Without `request`, the address and actor come from the audit context.

    Never raises: a refusal is answered whether or not it could be recorded (a failure is logged).
    """
    try:
        ctx = audit.current_context()
        if request is not None:
            ip_address = _ip(request.META.get("REMOTE_ADDR"))
            path = str(getattr(request, "path", "") or "")
            request_id = str(getattr(request, "request_id", "") or ctx.request_id)
        else:
            ip_address, path, request_id = _ip(ctx.ip_address), "", ctx.request_id
            user = ctx.user
            if not username and user is not None and getattr(user, "is_authenticated", False):
                username = user.get_username()
            if not api_key_prefix and ctx.api_key is not None:
                api_key_prefix = ctx.api_key.prefix
        now = timezone.now()
        with transaction.atomic():  # a savepoint: a failed INSERT leaves the caller's transaction usable
            event = SecurityEvent.objects.create(
                occurred_at=now,
                kind=kind,
                username=str(username or "")[:150],
                api_key_prefix=str(api_key_prefix or "")[:16],
                ip_address=ip_address,
                path=path[:300],
                detail=str(detail or "")[:300],
                request_id=request_id[:64],
            )
    except Exception:  # the refusal stands whatever happens here
        logger.warning("could not record a %s security event", kind, exc_info=True)
        return None
    try:
        _check_rate(now)
    except Exception:
        logger.warning("the security alert check failed", exc_info=True)
    return event


def api_key_refused(request, raw_key: str, *, reason: str = "") -> SecurityEvent | None:
    """Record why a presented key was refused: unknown (or a wrong secret), revoked or expired.

    Only the key's public prefix is kept, and only when the key has Vigil's shape; anything else
    someone pastes into the header (another system's token) is not stored at all.
    """
    parts = str(raw_key or "").split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return security_event_record(
            kind=SecurityEventKind.API_KEY_UNKNOWN, request=request, detail=reason or "not a Vigil API key"
        )
    _, prefix, secret = parts
    api_key = _lookup(prefix)  # the key cache the failed authentication just filled: usually no query
    if api_key is None:
        kind, detail = SecurityEventKind.API_KEY_UNKNOWN, "no key has this prefix"
    elif not secrets.compare_digest(api_key.hashed_secret, _hash(secret)):
        kind, detail = SecurityEventKind.API_KEY_UNKNOWN, f"wrong secret for key {api_key.name!r}"
    elif api_key.revoked_at is not None:
        kind, detail = SecurityEventKind.API_KEY_REVOKED, f"key {api_key.name!r} revoked {api_key.revoked_at:%Y-%m-%d}"
    elif api_key.expires_at is not None and api_key.expires_at <= timezone.now():
        kind, detail = SecurityEventKind.API_KEY_EXPIRED, f"key {api_key.name!r} expired {api_key.expires_at:%Y-%m-%d}"
    else:  # active by now: refused for another reason the caller names
        kind, detail = SecurityEventKind.API_KEY_UNKNOWN, reason or "refused"
    return security_event_record(kind=kind, request=request, api_key_prefix=prefix[:16], detail=detail)


# --- the alert ---------------------------------------------------------------------------------------------


def window_start(now: datetime, seconds: int) -> datetime:
    """The start of the fixed window `now` falls in (windows are aligned to the Unix epoch)."""
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def _gate_key(window: int, start: datetime) -> str:
    return f"vigil:security-alert:{window}:{int(start.timestamp())}"


def _check_rate(now: datetime) -> None:
    threshold = settings.SECURITY_ALERT_THRESHOLD
    window = settings.SECURITY_ALERT_WINDOW_SECONDS
    if threshold <= 0 or window <= 0:
        return
    start = window_start(now, window)
    gate = _gate_key(window, start)
    try:
        if cache.get(gate):
            return  # this window's notification is out: nothing more to count
    except Exception:  # no cache (Redis down): the notification's idempotency key still holds
        logger.warning("cache unavailable for the security alert gate", exc_info=True)
    recent = SecurityEvent.objects.filter(kind__in=AUTH_FAILURE_KINDS, occurred_at__gt=now - timedelta(seconds=window))
    # Bounded: at most `threshold` entries of the (kind, occurred_at) index are read, however large the attack.
    if recent.order_by().values("occurred_at")[:threshold].count() < threshold:
        return
    _notify_auth_failures(recent, start=start, window=window, threshold=threshold)

    def close_gate():
        try:
            cache.set(gate, True, timeout=window * 2)
        except Exception:
            logger.warning("cache unavailable for the security alert gate", exc_info=True)

    transaction.on_commit(close_gate)


def _span(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _notify_auth_failures(recent, *, start: datetime, window: int, threshold: int) -> None:
    # Once per window (the first call; the rest return at the idempotency key): the breakdown may cost.
    by_kind = list(recent.order_by().values_list("kind").annotate(n=Count("pk")).order_by("-n", "kind"))
    total = sum(n for _, n in by_kind)
    addresses = list(
        recent.exclude(ip_address=None)
        .order_by()
        .values_list("ip_address")
        .annotate(n=Count("pk"))
        .order_by("-n", "ip_address")[:TOP_SOURCES]
    )
    names = list(
        recent.exclude(username="")
        .order_by()
        .values_list("username")
        .annotate(n=Count("pk"))
        .order_by("-n", "username")[:TOP_SOURCES]
    )
    labels = dict(SecurityEventKind.choices)
    lines = [", ".join(f"{labels.get(kind, kind)}: {n}" for kind, n in by_kind)]
    if addresses:
        lines.append("From: " + ", ".join(f"{ip} ({n})" for ip, n in addresses))
    if names:
        lines.append("User names: " + ", ".join(f"{name} ({n})" for name, n in names))
    url = settings.VIGIL_BASE_URL.rstrip("/") + reverse("admin:governance_securityevent_changelist")
    lines.append(f"Security events: {url}")
    with transaction.atomic():
        for notify in notifiers:
            notify(
                event_type=AUTH_FAILURES_EVENT,
                subject=(
                    f"Security: {total} refused sign-ins and API calls in the last {_span(window)} "
                    f"(alert threshold {threshold})"
                ),
                body="\n".join(lines),
                idempotency_key=f"{AUTH_FAILURES_EVENT}:{window}:{start:%Y-%m-%dT%H:%M:%SZ}",
                severity="SEV2",
            )


# --- the counter and the panel ---------------------------------------------------------------------------


def counts_by_kind(*, since: datetime | None = None) -> dict[str, int]:
    """Events per kind (all time, or since `since`): one GROUP BY on the (kind, occurred_at) index."""
    rows = SecurityEvent.objects.all()
    if since is not None:
        rows = rows.filter(occurred_at__gte=since)
    return dict(rows.order_by().values_list("kind").annotate(n=Count("*")))  # COUNT(*): an index-only scan


def _security_event_samples():
    counts = once_per_scrape("security_events_by_kind", counts_by_kind)
    # Every kind, zero included: a series that exists from the start makes `increase()` alert rules simple.
    for kind in SecurityEventKind:
        yield {"kind": kind.value}, counts.get(kind.value, 0)


def render_security_panel(request) -> str:
    now = timezone.now()
    counts = counts_by_kind(since=now - timedelta(hours=24))
    return render_to_string(
        "governance/panels/security.html",
        {
            "counts": [(kind.value, kind.label, counts.get(kind.value, 0)) for kind in SecurityEventKind],
            "total": sum(counts.values()),
            "latest": SecurityEvent.objects.order_by("-occurred_at", "-id")[:LATEST_SHOWN],
            "threshold": settings.SECURITY_ALERT_THRESHOLD,
            "window": _span(settings.SECURITY_ALERT_WINDOW_SECONDS),
        },
        request=request,
    )


metrics.register(
    "vigil_security_events_total",
    MetricFamily(
        "vigil_security_events_total",
        "Security events recorded (refused logins, lockouts, API keys, scopes, roles, outbound URLs), by kind.",
        _security_event_samples,
        labels=("kind",),
    ),
)
# For whoever may read the security events (Ops Admin, Auditor): the same for all of them, so shared.
dashboard_panels.register(
    "security",
    DashboardPanel(
        "security",
        "Security signals",
        render_security_panel,
        order=800,
        permission="governance.view_securityevent",
        shared=True,
    ),
)
