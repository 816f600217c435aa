"""Business days: weekends and, when HOLIDAY_COUNTRY is set, that country's public holidays."""

import datetime as dt
import functools
import logging

import holidays
from django.conf import settings

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=32)
def _holidays(country: str | None, year: int) -> frozenset[dt.date]:
    if not country:
        return frozenset()
    try:
        return frozenset(holidays.country_holidays(country, years=[year]).keys())
    except NotImplementedError:
        logger.warning("HOLIDAY_COUNTRY %r is not known to the holidays package; counting weekends only", country)
        return frozenset()


def is_business_day(day: dt.date, *, country: str | None = None) -> bool:
    country = settings.HOLIDAY_COUNTRY if country is None else country
    return day.weekday() < 5 and day not in _holidays(country, day.year)


def add_business_days(moment: dt.datetime, days: int, *, country: str | None = None) -> dt.datetime:
    """`moment` moved forward by `days` business days, keeping the time of day."""
    day = moment.date()
    remaining = days
    while remaining > 0:
        day += dt.timedelta(days=1)
        if is_business_day(day, country=country):
            remaining -= 1
    return moment + dt.timedelta(days=(day - moment.date()).days)
