"""Time windows: the SLO's compliance window and the burn-rate windows."""

from datetime import UTC, datetime, timedelta

from .choices import BURN_WINDOWS, SLOWindow

HOUR = timedelta(hours=1)


def floor_hour(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(value: datetime) -> datetime:
    floored = floor_hour(value)
    return floored if floored == value else floored + HOUR


def window_start(window: str, now: datetime) -> datetime:
    """Start of the SLO's compliance window ending at `now` (a calendar month starts on the 1st, UTC)."""
    if window == SLOWindow.MONTH:
        return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return now - timedelta(days=int(str(window).rstrip("d")))


def all_windows(window: str, now: datetime) -> dict[str, datetime]:
    """name → start: the burn-rate windows plus "slo" (the compliance window)."""
    starts = {name: now - timedelta(seconds=seconds) for name, seconds in BURN_WINDOWS.items()}
    starts["slo"] = window_start(window, now)
    return starts


def promql_duration(seconds: float) -> str:
    seconds = max(int(seconds), 1)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
