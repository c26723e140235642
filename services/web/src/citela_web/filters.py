"""Jinja filters: French formats of numbers, dates and times."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from jinja2 import Environment

MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def french_date(value: Any, weekday: bool = False) -> str:
    """`2026-12-05` -> `5 décembre 2026` (or `samedi 5 décembre 2026`)."""
    day = _as_date(value)
    if day is None:
        return ""
    first = "1er" if day.day == 1 else str(day.day)
    text = f"{first} {MONTHS[day.month - 1]} {day.year}"
    return f"{WEEKDAYS[day.weekday()]} {text}" if weekday else text


def french_number(value: Any, digits: int = 1) -> str:
    """`3.456` -> `3,5`; thousands with a narrow no-break space (`12 345`)."""
    if value is None or value == "":
        return "—"
    number = float(value)
    text = f"{number:,.{digits}f}" if digits else f"{round(number):,}"
    return text.replace(",", "\u202f").replace(".", ",")


def french_signed(value: Any, digits: int = 1) -> str:
    """A difference with its sign: `+2,8`, `−0,4` (minus sign), `0,0`; `—` when unknown."""
    if value is None or value == "":
        return "—"
    number = float(value)
    text = french_number(abs(number), digits)
    if round(number, digits) > 0:
        return "+" + text
    if round(number, digits) < 0:
        return "\u2212" + text
    return text


def french_percent(value: Any, digits: int = 0) -> str:
    """A share in 0..1 -> `42 %`."""
    if value is None:
        return "—"
    return f"{french_number(float(value) * 100, digits)}\u00a0%"


def install(env: Environment) -> None:
    env.filters["date_fr"] = french_date
    env.filters["number_fr"] = french_number
    env.filters["percent_fr"] = french_percent
    env.filters["signed_fr"] = french_signed
