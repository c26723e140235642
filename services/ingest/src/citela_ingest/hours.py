"""Opening hours as published by the feeds, turned into a weekly list of ``OpeningSlot``.

Service-Public (``plage_ouverture``), one item per day range::

    {"nom_jour_debut": "Lundi", "nom_jour_fin": "Jeudi",
     "valeur_heure_debut_1": "08:00:00", "valeur_heure_fin_1": "12:00:00",
     "valeur_heure_debut_2": "13:30:00", "valeur_heure_fin_2": "17:30:00",
     "commentaire": ""}

* Day names are French ("Lundi" … "Dimanche"), compared without case, accents or spaces; an
  unknown name is an error. ``nom_jour_fin`` empty means the range is the one day; a range may
  wrap over the week end ("Samedi" → "Lundi").
* Each range has up to two slots; ``""`` (or null) for both ends means the slot is unused.
  Times are ``HH:MM:SS`` or ``HH:MM``; seconds are dropped. A slot with one end only, a time
  that is not a time, or a slot that closes before it opens is an error. ``00:00`` as a closing
  time means midnight and becomes ``24:00``.
* ``commentaire`` is free text that can change the meaning ("uniquement le 2e et 4e samedis"): it
  is kept as the ``note`` of every slot of its range. A range with a comment but no time at all
  ("Sur rendez-vous") gives no slot: its comment is returned in ``WeeklyHours.notes``.

Errors are ``HoursError`` (a ``ValueError``) with an English reason; sources turn them into
``InvalidRecord``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from citela_common.events.models import OpeningSlot
from citela_common.text import fold_accents

__all__ = [
    "WEEKDAYS_FR",
    "HoursError",
    "WeeklyHours",
    "parse_plages_ouverture",
    "parse_time",
    "sort_slots",
    "weekday_from_name",
]

# 0 = lundi … 6 = dimanche, as OpeningSlot.weekday
WEEKDAYS_FR: tuple[str, ...] = (
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
)
_WEEKDAY_INDEX = {name: i for i, name in enumerate(WEEKDAYS_FR)}
_TIME = re.compile(r"^(\d{1,2})[:hH](\d{2})(?::(\d{2}))?$")


class HoursError(ValueError):
    """Opening hours that cannot be read; the message says why."""


@dataclass(frozen=True)
class WeeklyHours:
    slots: list[OpeningSlot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # comments of ranges without any time


def _fold(value: str) -> str:
    return fold_accents(value).strip().lower()


def weekday_from_name(name: object) -> int:
    """0 for "Lundi" … 6 for "Dimanche" (case and accents ignored); HoursError otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise HoursError(f"day name is missing or not text: {name!r}")
    index = _WEEKDAY_INDEX.get(_fold(name))
    if index is None:
        raise HoursError(f"unknown day name {name!r} (expected Lundi … Dimanche)")
    return index


def parse_time(value: object, *, closing: bool = False) -> str | None:
    """``"08:00:00"`` → ``"08:00"``; ``""``/None → None; HoursError for anything else.

    With ``closing``, ``"00:00"`` (midnight) becomes ``"24:00"``.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise HoursError(f"time is not text: {value!r}")
    text = value.strip()
    if not text:
        return None
    match = _TIME.match(text)
    if not match:
        raise HoursError(f"not a time: {value!r} (expected HH:MM:SS)")
    hour, minute = int(match.group(1)), int(match.group(2))
    second = int(match.group(3) or 0)
    if minute > 59 or second > 59 or hour > 24 or (hour == 24 and (minute or second)):
        raise HoursError(f"not a time of day: {value!r}")
    if closing and hour == 0 and minute == 0:
        hour = 24
    return f"{hour:02d}:{minute:02d}"


def _days(start: int, end: int) -> list[int]:
    if end >= start:
        return list(range(start, end + 1))
    return list(range(start, 7)) + list(range(0, end + 1))  # wraps over the week end


def sort_slots(slots: Iterable[OpeningSlot]) -> list[OpeningSlot]:
    """Slots sorted by weekday and opening time, exact duplicates removed."""
    unique: dict[tuple[int, str, str, str | None], OpeningSlot] = {}
    for slot in slots:
        unique.setdefault((slot.weekday, slot.opens, slot.closes, slot.note), slot)
    return [unique[k] for k in sorted(unique, key=lambda k: (k[0], k[1], k[2], k[3] or ""))]


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


# The fields of a range that the schedule depends on: ranges are read as tuples of these, so
# that a schedule seen before (most offices share a handful) is not parsed again.
_PLAGE_FIELDS = (
    "nom_jour_debut",
    "nom_jour_fin",
    "commentaire",
    "valeur_heure_debut_1",
    "valeur_heure_fin_1",
    "valeur_heure_debut_2",
    "valeur_heure_fin_2",
)
_Plage = tuple[Any, ...]  # the values of _PLAGE_FIELDS, in that order


def _plage(plage: _Plage, position: int) -> tuple[list[OpeningSlot], str | None]:
    where = f"opening range #{position + 1}"
    start_name, end_name = plage[0], plage[1]
    try:
        start = weekday_from_name(start_name)
        end = start if not _text(end_name) else weekday_from_name(end_name)
    except HoursError as exc:
        raise HoursError(f"{where}: {exc}") from None
    note = _text(plage[2]) or None
    times: list[tuple[str, str]] = []
    for n in (1, 2):
        try:
            opens = parse_time(plage[2 * n + 1])
            closes = parse_time(plage[2 * n + 2], closing=True)
        except HoursError as exc:
            raise HoursError(f"{where}, slot {n}: {exc}") from None
        if opens is None and closes is None:
            continue
        if opens is None or closes is None:
            raise HoursError(f"{where}, slot {n}: opening or closing time is missing")
        if closes <= opens:
            raise HoursError(f"{where}, slot {n}: closes at {closes}, not after it opens ({opens})")
        times.append((opens, closes))
    if len(times) == 2 and times[1][0] < times[0][1]:
        raise HoursError(
            f"{where}: the second slot ({times[1][0]}) starts before the first ends ({times[0][1]})"
        )
    slots = [
        OpeningSlot(weekday=day, opens=opens, closes=closes, note=note)
        for day in _days(start, end)
        for opens, closes in times
    ]
    return slots, (note if not times else None)


def parse_plages_ouverture(plages: object) -> WeeklyHours:
    """The weekly schedule of a Service-Public ``plage_ouverture`` list (already JSON-decoded)."""
    if plages is None or plages == "" or plages == []:
        return WeeklyHours()
    if not isinstance(plages, list):
        raise HoursError(f"opening hours are not a list: {type(plages).__name__}")
    ranges: list[_Plage] = []
    for position, plage in enumerate(plages):
        if not isinstance(plage, (dict, Mapping)):  # a dict skips the ABC check
            raise HoursError(f"opening range #{position + 1} is not an object: {plage!r}")
        ranges.append(tuple(map(plage.get, _PLAGE_FIELDS)))
    key = tuple(ranges)
    try:
        slots, notes = _schedule(key)  # cached: most offices share a handful of schedules
    except TypeError:  # a value that is a list or an object: parsed (and refused) uncached
        slots, notes = _schedule.__wrapped__(key)
    return WeeklyHours(slots=list(slots), notes=list(notes))


@lru_cache(maxsize=4096)
def _schedule(ranges: tuple[_Plage, ...]) -> tuple[tuple[OpeningSlot, ...], tuple[str, ...]]:
    """Slots and notes of some ranges (OpeningSlot is frozen: cached slots can be shared)."""
    slots: list[OpeningSlot] = []
    notes: list[str] = []
    for position, plage in enumerate(ranges):
        range_slots, note = _plage(plage, position)
        slots.extend(range_slots)
        if note and note not in notes:
            notes.append(note)
    return tuple(sort_slots(slots)), tuple(notes)
