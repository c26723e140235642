"""Service-Public opening ranges → weekly OpeningSlot list."""

from __future__ import annotations

from typing import Any

import pytest

from citela_common.events.models import OpeningSlot
from citela_ingest.hours import (
    HoursError,
    parse_plages_ouverture,
    parse_time,
    weekday_from_name,
)


def plage(debut: str, fin: str, *slots: str, commentaire: str = "") -> dict[str, Any]:
    times = [*slots, "", "", "", ""][:4]
    return {
        "nom_jour_debut": debut,
        "nom_jour_fin": fin,
        "valeur_heure_debut_1": times[0],
        "valeur_heure_fin_1": times[1],
        "valeur_heure_debut_2": times[2],
        "valeur_heure_fin_2": times[3],
        "commentaire": commentaire,
    }


def test_day_ranges_and_two_slots() -> None:
    hours = parse_plages_ouverture(
        [
            plage("Lundi", "Jeudi", "08:00:00", "12:00:00", "13:30:00", "17:30:00"),
            plage("Vendredi", "Vendredi", "08:00:00", "12:00:00"),
        ]
    )
    assert len(hours.slots) == 9
    assert hours.slots[0] == OpeningSlot(weekday=0, opens="08:00", closes="12:00")
    assert hours.slots[7] == OpeningSlot(weekday=3, opens="13:30", closes="17:30")
    assert hours.slots[-1] == OpeningSlot(weekday=4, opens="08:00", closes="12:00")
    assert hours.notes == []


def test_comments_single_days_wrapping_ranges_and_midnight() -> None:
    hours = parse_plages_ouverture(
        [
            plage("samedi", "", "09:00", "12:00", commentaire="Uniquement les 2e et 4e samedis"),
            plage("Dimanche", "Lundi", "18:00:00", "00:00:00"),
            plage("Mercredi", "Mercredi", commentaire="Sur rendez-vous"),
        ]
    )
    assert hours.slots == [
        OpeningSlot(weekday=0, opens="18:00", closes="24:00"),
        OpeningSlot(
            weekday=5, opens="09:00", closes="12:00", note="Uniquement les 2e et 4e samedis"
        ),
        OpeningSlot(weekday=6, opens="18:00", closes="24:00"),
    ]
    assert hours.notes == ["Sur rendez-vous"]


@pytest.mark.parametrize(
    ("plages", "reason"),
    [
        ([plage("Lundy", "Mardi", "08:00", "12:00")], "unknown day name 'Lundy'"),
        ([plage("", "Mardi", "08:00", "12:00")], "day name is missing"),
        ([plage("Lundi", "Lundi", "08:00", "")], "slot 1: opening or closing time is missing"),
        ([plage("Lundi", "Lundi", "8h00", "25:00")], "not a time of day: '25:00'"),
        ([plage("Lundi", "Lundi", "matin", "12:00")], "not a time: 'matin'"),
        (
            [plage("Lundi", "Lundi", "14:00", "12:00")],
            "closes at 12:00, not after it opens (14:00)",
        ),
        (
            [plage("Lundi", "Lundi", "08:00", "12:00", "11:00", "17:00")],
            "the second slot (11:00) starts before the first ends (12:00)",
        ),
        ({"nom_jour_debut": "Lundi"}, "not a list"),
        (["Lundi 8h-12h"], "is not an object"),
    ],
)
def test_malformed_hours(plages: Any, reason: str) -> None:
    with pytest.raises(HoursError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_plages_ouverture(plages)


def test_empty_values() -> None:
    assert parse_plages_ouverture(None).slots == []
    assert parse_plages_ouverture([]).slots == []
    assert parse_plages_ouverture("").slots == []
    assert parse_time("") is None
    assert parse_time(None) is None
    assert parse_time("8:05:59") == "08:05"
    assert weekday_from_name(" DIMANCHE ") == 6
