"""What the first view of the dashboard shares between its requests gives the same answers.

A page asks for the priorities and ten explanations at once: their themes are counted against
one pass over the background comments, their backgrounds come from one read of the recent
comments, and their matrix is computed once per cache generation (``Memo``).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from citela_analytics.domain.themes import contrasted, themes
from citela_analytics.queries import BACKGROUND_COMMENTS, RecentComments
from citela_common.cache import Memo

NEGATIVE = [
    "Le temps d'attente au guichet est beaucoup trop long.",
    "Temps d'attente interminable : une heure debout !",
    "Les horaires d'ouverture ne conviennent pas à ceux qui travaillent.",
    "Horaires d'ouverture trop restreints, fermé le samedi.",
    "Prise de rendez-vous en ligne impossible à la mairie.",
]
POSITIVE = [
    "Personnel aimable et accueil chaleureux à la mairie.",
    "Accueil chaleureux, personnel compétent.",
    "Rapide et efficace, personnel aimable.",
]
UNSCORED = ["Temps d'attente correct ce matin, accueil chaleureux."]
ELSEWHERE = [
    "La piscine est propre et les maîtres-nageurs attentifs.",
    "Médiathèque bien fournie, mais le temps d'attente au prêt est long.",
    "Le personnel de la crèche est aimable.",
]


def test_both_groups_themes_against_one_background_are_each_groups_own() -> None:
    everything = [*NEGATIVE, *POSITIVE, *UNSCORED, *ELSEWHERE]
    negative, positive = contrasted([NEGATIVE, POSITIVE], everything, exclude=["Mairie"])
    assert negative == themes(NEGATIVE, [*POSITIVE, *UNSCORED, *ELSEWHERE], exclude=["Mairie"])
    assert positive == themes(POSITIVE, [*NEGATIVE, *UNSCORED, *ELSEWHERE], exclude=["Mairie"])
    assert "temps d'attente" in [t.phrase for t in negative]
    assert all("mairie" not in t.phrase for t in negative + positive)


def test_an_empty_group_has_no_theme() -> None:
    assert contrasted([[], POSITIVE], [*POSITIVE, *ELSEWHERE]) == [[], themes(POSITIVE, ELSEWHERE)]


def test_the_background_of_a_service_comes_from_the_recent_comments() -> None:
    rows = [
        ("mairie" if i % 3 == 0 else "piscine" if i % 3 == 1 else "creche", f"avis {i}")
        for i in range(2 * BACKGROUND_COMMENTS)
    ]
    recent = RecentComments(rows, complete=False)
    others = recent.others(["mairie"])
    assert others is not None
    assert len(others) == BACKGROUND_COMMENTS
    assert others[:3] == ["avis 1", "avis 2", "avis 4"]
    # Not enough rows left once a big service is set aside: the caller reads them itself.
    assert recent.others(["piscine", "creche"]) is None
    # Every comment of the period read: what there is is the whole background.
    few = RecentComments(rows[:10], complete=True)
    assert few.others(["mairie"]) == [t for e, t in rows[:10] if e != "mairie"]


def test_concurrent_requests_share_one_computation() -> None:
    memo: Memo[list[str]] = Memo()
    calls: list[int] = []
    started = threading.Event()
    release = threading.Event()

    def compute() -> list[str]:
        calls.append(1)
        started.set()
        release.wait(10)
        return ["Prio. 1 : CCAS de Chantilly"]

    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(memo.get, ("aire-cantilienne", 7), compute)
        started.wait(10)
        others = [pool.submit(memo.get, ("aire-cantilienne", 7), compute) for _ in range(7)]
        release.set()
        results = [first.result(), *(f.result() for f in others)]
    assert calls == [1]
    assert all(r is results[0] for r in results)
    # Another generation (new feedback) is computed anew.
    assert memo.get(("aire-cantilienne", 8), lambda: ["Prio. 1 : Caf"]) == ["Prio. 1 : Caf"]


def test_a_failed_computation_is_not_kept() -> None:
    memo: Memo[int] = Memo()

    def fail() -> int:
        raise RuntimeError("base indisponible")

    with pytest.raises(RuntimeError):
        memo.get("aire-cantilienne", fail)
    assert memo.get("aire-cantilienne", lambda: 3) == 3
