from django.db import models


class SLIKind(models.TextChoices):
    RATIO = "ratio", "Ratio (good / total events)"
    LATENCY = "latency", "Latency threshold (requests faster than the threshold / all requests)"


class SLOWindow(models.TextChoices):
    ROLLING_28D = "28d", "Rolling 28 days"
    ROLLING_30D = "30d", "Rolling 30 days"
    MONTH = "month", "Calendar month"


class SourceKind(models.TextChoices):
    PROMETHEUS = "prometheus", "Prometheus"
    PUSHED = "pushed", "Pushed counts (API)"


class BudgetStatus(models.TextChoices):
    OK = "ok", "OK"
    WARNING = "warning", "Warning"
    EXHAUSTED = "exhausted", "Exhausted"
    UNKNOWN = "unknown", "Unknown"


class AlertLevel(models.TextChoices):
    PAGE = "page", "Page"
    TICKET = "ticket", "Ticket"


class ExceptionStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


# Burn-rate windows of the SRE Workbook's multiwindow alerts, in seconds.
BURN_WINDOWS: dict[str, int] = {
    "5m": 5 * 60,
    "30m": 30 * 60,
    "1h": 3600,
    "2h": 2 * 3600,
    "6h": 6 * 3600,
    "1d": 86400,
    "3d": 3 * 86400,
}

# (level, long window, short window, factor): page on 1h & 5m ≥ 14.4× or 6h & 30m ≥ 6×;
# ticket on 1d & 2h ≥ 3× or 3d & 6h ≥ 1×.
BURN_RULES: tuple[tuple[str, str, str, float], ...] = (
    (AlertLevel.PAGE, "1h", "5m", 14.4),
    (AlertLevel.PAGE, "6h", "30m", 6.0),
    (AlertLevel.TICKET, "1d", "2h", 3.0),
    (AlertLevel.TICKET, "3d", "6h", 1.0),
)
