"""Days and weeks as French authorities count them (Europe/Paris), for periods and trends."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def local_day(moment: datetime) -> date:
    """The calendar day in France of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime refused")
    return moment.astimezone(PARIS).date()


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def last_complete_week(today: date) -> date:
    """The Monday of the last week that has fully ended by ``today``."""
    return week_start(today) - timedelta(days=7)


def weeks_back(last: date, count: int) -> list[date]:
    """``count`` Mondays ending at the Monday ``last``, oldest first."""
    return [last - timedelta(days=7 * i) for i in reversed(range(count))]
