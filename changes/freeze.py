"""Freeze window arithmetic: when a window's occurrences start and end (pure functions)."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .choices import FreezeRecurrence

MAX_OCCURRENCES = 500  # per query range: a cron of every minute cannot stall a page


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


def validate_window(window) -> dict[str, list[str]]:
    """Field → messages for a window that cannot be computed."""
    from croniter import croniter

    errors: dict[str, list[str]] = {}
    try:
        _zone(window.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = [f"Unknown time zone {window.time_zone!r}."]
    if window.recurrence == FreezeRecurrence.ONCE:
        if not window.starts_at:
            errors["starts_at"] = ["Required for a one-off window."]
        if not window.ends_at:
            errors["ends_at"] = ["Required for a one-off window."]
        elif window.starts_at and window.ends_at <= window.starts_at:
            errors["ends_at"] = ["Must be after the start."]
    elif window.recurrence == FreezeRecurrence.WEEKLY:
        days = window.weekdays
        if not isinstance(days, list) or not days or not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
            errors["weekdays"] = ["Give one or more days, 0 = Monday … 6 = Sunday."]
        if window.start_time is None:
            errors["start_time"] = ["Required for a weekly window."]
        if window.end_time is None:
            errors["end_time"] = ["Required for a weekly window."]
    elif window.recurrence == FreezeRecurrence.CRON:
        if not window.cron or not croniter.is_valid(window.cron):
            errors["cron"] = ["A valid five-field cron expression is required, e.g. 0 18 * * 5."]
        if not window.duration_minutes:
            errors["duration_minutes"] = ["Required for a cron window, in minutes."]
    else:
        errors["recurrence"] = ["Choose once, weekly or cron."]
    return errors


def occurrences(window, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The window's (start, end) intervals that overlap [start, end), in order."""
    if window.recurrence == FreezeRecurrence.ONCE:
        if window.starts_at < end and window.ends_at > start:
            return [(window.starts_at, window.ends_at)]
        return []
    if window.recurrence == FreezeRecurrence.WEEKLY:
        return _weekly(window, start, end)
    return _cron(window, start, end)


def _weekly(window, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    tz = _zone(window.time_zone)
    days = set(window.weekdays or [])
    result = []
    day: date = start.astimezone(tz).date() - timedelta(days=1)  # yesterday's overnight window may still run
    last: date = end.astimezone(tz).date()
    while day <= last and len(result) < MAX_OCCURRENCES:
        if day.weekday() in days:
            begins = datetime.combine(day, window.start_time, tzinfo=tz)
            end_day = day if window.end_time > window.start_time else day + timedelta(days=1)
            ends = datetime.combine(end_day, window.end_time, tzinfo=tz)
            if begins < end and ends > start:
                result.append((begins, ends))
        day += timedelta(days=1)
    return result


def _cron(window, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    from croniter import croniter

    tz = _zone(window.time_zone)
    length = timedelta(minutes=window.duration_minutes)
    it = croniter(window.cron, (start - length).astimezone(tz))
    result = []
    while len(result) < MAX_OCCURRENCES:
        begins = it.get_next(datetime)
        if begins >= end:
            break
        ends = begins + length
        if ends > start:
            result.append((begins, ends))
    return result


def active_occurrence(window, at: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence running at `at` (the latest-ending one when several overlap), or None."""
    running = [o for o in occurrences(window, at, at + timedelta(microseconds=1)) if o[0] <= at < o[1]]
    return max(running, key=lambda o: o[1]) if running else None
