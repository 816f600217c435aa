"""Demo: Vigil's own SLOs on pushed counts that Vigil feeds itself (the `slos.self_feed` job).

- `vigil-api-availability`: 99.95 % over 28 days — responses without a 5xx, from Vigil's own
  request counters (its /metrics), pushed each minute;
- `vigil-alert-receipt`: 99.999 % over 28 days — notifications delivered out of those delivered or
  dead-lettered, from alerting's outbox.
The seeder backfills 28 days of hourly demo history so the charts are not empty on a fresh install.
"""

import random
import re
from datetime import datetime, timedelta
from decimal import Decimal

import requests
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from governance.audit import audit_context
from governance.models import Service

from .models import SLO
from .windows import floor_hour

API_SLO = "vigil-api-availability"
ALERT_SLO = "vigil-alert-receipt"
CURSOR_KEY = "slos:self_feed:requests"
RESPONSES = re.compile(r'^django_http_responses_total_by_status_total\{status="(\d+)"\}\s+([0-9.e+]+)', re.M)
SETTLE = timedelta(minutes=10)  # notifications get this long to be delivered or dead-lettered


def _vigil_service() -> Service | None:
    """A `vigil` service if the catalog has one; else the Platform team's first tier-1 service (the demo
    catalog is the kernel's: the seeder adds SLOs, not services)."""
    return (
        Service.objects.filter(slug="vigil").first()
        or Service.objects.filter(owner_team__slug="platform", tier=1).order_by("slug").first()
        or Service.objects.order_by("slug").first()
    )


def seed_slos(stdout) -> None:
    from .services import slo_evaluate, slo_push_intervals, slo_save

    if SLO.objects.filter(slug=API_SLO).exists():
        stdout.write("  demo data: SLOs (already there)")
        return
    if _vigil_service() is None:
        stdout.write("  demo data: SLOs (skipped: the demo catalog is missing)")
        return
    now = timezone.now()
    rng = random.Random(16)  # noqa: S311  demo figures, not secrets
    with audit_context(label="seed_demo"):
        service = _vigil_service()
        team = service.owner_team
        api, _ = slo_save(
            slug=API_SLO,
            name="Vigil API availability",
            description="Responses without a server error, from Vigil's own request counters.",
            service=service,
            owner_team=team,
            objective=Decimal("0.9995"),
            window="28d",
            source_kind="pushed",
        )
        alerts, _ = slo_save(
            slug=ALERT_SLO,
            name="Vigil alert receipt",
            description="Notifications delivered out of those delivered or dead-lettered.",
            service=service,
            owner_team=team,
            objective=Decimal("0.99999"),
            window="28d",
            source_kind="pushed",
            incident_severity="SEV2",
        )
        top = floor_hour(now)
        for slo, per_hour, error_rate in ((api, 6000, 0.0002), (alerts, 400_000, 0.000004)):
            intervals = []
            for h in range(28 * 24, 0, -1):
                start = top - timedelta(hours=h)
                total = per_hour + rng.randint(-per_hour // 10, per_hour // 10)
                bad = sum(1 for _ in range(3) if rng.random() < error_rate * total / 3)
                intervals.append(
                    {"start": start, "end": start + timedelta(hours=1), "good": total - bad, "total": total}
                )
            for i in range(0, len(intervals), 1000):
                slo_push_intervals(slo=slo, intervals=intervals[i : i + 1000])
        for slo in (api, alerts):
            slo_evaluate(slo=slo, now=now)
    stdout.write("  demo data: SLOs (Vigil's API availability and alert receipt, 28 days of history)")


# --- the self-feed job ---------------------------------------------------------------------------


def _read_requests() -> tuple[float, float] | None:
    """(total responses, 5xx responses) from Vigil's own /metrics; None when it cannot be read."""
    url = getattr(settings, "SLOS_SELF_METRICS_URL", "") or settings.VIGIL_BASE_URL.rstrip("/") + "/metrics"
    headers = {}
    key = getattr(settings, "SLOS_SELF_METRICS_KEY", "")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        response = requests.get(url, headers=headers, timeout=5)
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    total = errors = 0.0
    for status, value in RESPONSES.findall(response.text):
        total += float(value)
        if status.startswith("5"):
            errors += float(value)
    return total, errors


def feed_api(now) -> str:
    from .services import slo_push_intervals

    slo = SLO.objects.filter(slug=API_SLO).first()
    if slo is None:
        return "no API SLO"
    reading = _read_requests()
    if reading is None:
        return "metrics unreachable"
    previous = cache.get(CURSOR_KEY)
    cache.set(CURSOR_KEY, {"at": now.isoformat(), "total": reading[0], "errors": reading[1]}, timeout=3600)
    if not previous:
        return "first reading kept"
    start = datetime.fromisoformat(previous["at"])
    if now - start > timedelta(hours=1) or now <= start:
        return "reading too old; restarted"
    total, errors = reading[0] - previous["total"], reading[1] - previous["errors"]
    if total < 0 or errors < 0:  # the web process restarted: its counters began again
        total, errors = reading
    total, errors = int(total), int(errors)
    slo_push_intervals(slo=slo, intervals=[{"start": start, "end": now, "good": total - errors, "total": total}])
    return f"{total} request(s), {errors} 5xx"


def feed_alert_receipt(now) -> str:
    from alerting.choices import NotificationStatus
    from alerting.models import Notification

    from .services import slo_push_intervals

    slo = SLO.objects.filter(slug=ALERT_SLO).first()
    if slo is None:
        return "no alert SLO"
    end = (now - SETTLE).replace(second=0, microsecond=0)
    start = end - timedelta(minutes=1)
    rows = Notification.objects.filter(created_at__gte=start, created_at__lt=end)
    delivered = rows.filter(status=NotificationStatus.DELIVERED).count()
    dead = rows.filter(status=NotificationStatus.DEAD_LETTER).count()
    if delivered + dead == 0:
        return "no notifications"
    slo_push_intervals(slo=slo, intervals=[{"start": start, "end": end, "good": delivered, "total": delivered + dead}])
    return f"{delivered} of {delivered + dead} notification(s) delivered"
