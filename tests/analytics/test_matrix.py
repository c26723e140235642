"""The PMA matrix checked against an independent computation (pandas, scipy) of the same answers.

Every figure of every service and policy area: n, means, standard deviations, 95 % t
intervals, the paired gap and its interval, quadrants, uncertain and not-enough cells and
priorities, with both crosshair modes.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pandas as pd
import pytest
from scipy import stats  # type: ignore[import-untyped]

from citela_analytics.domain.matrix import (
    CrosshairMode,
    EntryInfo,
    Matrix,
    MatrixSettings,
    Point,
    Quadrant,
    Scope,
    Status,
    build_matrix,
)
from citela_analytics.domain.stats import Estimate, Sums, t_quantile
from tests.analytics.reference import reference_matrix

AREAS = {
    "accueil": ("Accueil de la mairie", "Administration"),
    "etat-civil": ("État civil", "Administration"),
    "piscine": ("Piscine Péguilhan", "Sport"),
    "stade": ("Stade municipal", "Sport"),
    "musee": ("Musée des Beaux-Arts", "Culture"),
    "golf": ("Golf municipal", "Sport"),
    "mediatheque": ("Médiathèque", "Culture"),
    "kiosque": ("Kiosque numérique", "Numérique"),
    "creche": ("Crèche des Lilas", "Petite enfance"),
}
# (importance choices, satisfaction choices, n): shapes that land in every quadrant and status
SHAPES: dict[str, tuple[list[int], list[int], int]] = {
    "accueil": ([5, 5, 4, 5, 4], [1, 2, 2, 1, 3], 40),  # act first, clear
    "etat-civil": ([4, 5, 4, 3], [2, 3, 2, 3], 25),
    "piscine": ([5, 4, 5], [4, 5, 5, 4], 30),  # keep up
    "stade": ([3, 4, 2, 4], [3, 4, 3, 2], 14),  # near the means: uncertain
    "musee": ([1, 2, 2, 3], [2, 1, 3, 2], 22),  # secondary
    "golf": ([1, 2, 1], [5, 4, 5], 18),  # over-investment
    "mediatheque": ([4, 3, 4, 3], [4, 3, 4, 3], 12),
    "kiosque": ([5, 4], [1, 2], 6),  # not enough answers
    "creche": ([5], [2], 10),  # every answer the same: sd 0, degenerate interval
}


def answers(seed: int = 7) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for key, (imps, sats, n) in SHAPES.items():
        title, area = AREAS[key]
        for _ in range(n):
            rows.append(
                {
                    "entry": key,
                    "label": title,
                    "area": area,
                    "importance": rng.choice(imps),
                    "satisfaction": rng.choice(sats),
                }
            )
    return pd.DataFrame(rows)


def ours(frame: pd.DataFrame, mode: CrosshairMode, min_answers: int = 10) -> Matrix:
    cells: dict[str, Sums] = {}
    for entry, importance, satisfaction in zip(
        frame["entry"], frame["importance"], frame["satisfaction"], strict=True
    ):
        cells[str(entry)] = cells.get(str(entry), Sums()) + Sums.of(
            int(importance), int(satisfaction)
        )
    infos = {k: EntryInfo(title, area) for k, (title, area) in AREAS.items()}
    return build_matrix(cells, infos, MatrixSettings(mode, min_answers))


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == pytest.approx(b, rel=1e-9, abs=1e-12)


def check_estimate(e: Estimate, ref: dict[str, Any], n: int) -> None:
    assert close(e.mean, ref["mean"])
    if n < 2:
        assert e.sd is None
        assert e.ci_low is None
        return
    assert close(e.sd, ref["sd"])
    assert close(e.ci_low, ref["ci_low"]), (e, ref)
    assert close(e.ci_high, ref["ci_high"]), (e, ref)


def check_point(p: Point, ref: dict[str, Any]) -> None:
    assert p.n == ref["n"]
    assert p.label == ref["label"]
    check_estimate(p.importance, ref["importance"], p.n)
    check_estimate(p.satisfaction, ref["satisfaction"], p.n)
    check_estimate(p.gap, ref["gap"], p.n)
    assert (p.quadrant.value if p.quadrant else None) == ref["quadrant"], p.key
    assert p.status.value == ref["status"], p.key
    assert list(p.straddled) == ref["straddled"], p.key
    assert p.priority == ref["priority"], p.key


@pytest.mark.parametrize("mode", list(CrosshairMode))
@pytest.mark.parametrize("seed", [7, 11, 2026])
def test_every_figure_matches_pandas_and_scipy(mode: CrosshairMode, seed: int) -> None:
    frame = answers(seed)
    matrix = ours(frame, mode)
    ref = reference_matrix(frame, mode=mode.value, min_answers=10)
    cross = ref[("crosshairs", "")]
    assert close(matrix.crosshairs.importance, cross["importance"])
    assert close(matrix.crosshairs.satisfaction, cross["satisfaction"])
    # both crosshairs are reported whatever the mode
    assert close(matrix.crosshairs.grand_importance, cross["grand_importance"])
    assert close(matrix.crosshairs.grand_satisfaction, cross["grand_satisfaction"])
    assert matrix.crosshairs.midpoint == 3.0
    assert matrix.crosshairs.answers == cross["n"] == len(frame)
    keys = {(s, k) for (s, k) in ref if s != "crosshairs"}
    assert {(p.scope.value, p.key) for p in [*matrix.services, *matrix.areas]} == keys
    for p in [*matrix.services, *matrix.areas]:
        check_point(p, ref[(p.scope.value, p.key)])


def test_the_example_lands_in_every_quadrant_and_status() -> None:
    matrix = ours(answers(7), CrosshairMode.GRAND_MEANS)
    by_key = {p.key: p for p in matrix.services}
    assert by_key["accueil"].quadrant is Quadrant.ACT_FIRST
    assert by_key["accueil"].status is Status.CLEAR
    assert by_key["piscine"].quadrant is Quadrant.KEEP_UP
    assert by_key["musee"].quadrant is Quadrant.SECONDARY
    assert by_key["golf"].quadrant is Quadrant.OVER_INVESTMENT
    assert by_key["stade"].status is Status.UNCERTAIN
    assert by_key["stade"].straddled
    assert by_key["kiosque"].status is Status.NOT_ENOUGH_ANSWERS
    assert by_key["kiosque"].quadrant is None
    assert by_key["kiosque"].priority is None
    assert by_key["creche"].importance.sd == 0.0
    assert by_key["creche"].importance.ci_low == by_key["creche"].importance.ci_high == 5.0
    ranked = matrix.priorities(Scope.SERVICE)
    assert ranked[0].key == "accueil" or ranked[0].quadrant is Quadrant.ACT_FIRST
    assert [p.priority for p in ranked] == list(range(1, len(ranked) + 1))
    quadrants = [p.quadrant for p in ranked]
    order = [Quadrant.ACT_FIRST, Quadrant.KEEP_UP, Quadrant.SECONDARY, Quadrant.OVER_INVESTMENT]
    assert quadrants == sorted(quadrants, key=lambda q: order.index(q))  # type: ignore[arg-type]
    for a, b in itertools.pairwise(ranked):
        if a.quadrant is b.quadrant:
            assert (a.gap.mean or 0) >= (b.gap.mean or 0)


def test_the_midpoint_moves_cells_between_quadrants() -> None:
    frame = answers(7)
    grand = ours(frame, CrosshairMode.GRAND_MEANS)
    mid = ours(frame, CrosshairMode.MIDPOINT)
    assert mid.crosshairs.importance == mid.crosshairs.satisfaction == 3.0
    assert mid.crosshairs.grand_importance == grand.crosshairs.importance
    moved = {
        p.key
        for p in grand.services
        if p.quadrant is not None and p.quadrant != mid.find(Scope.SERVICE, p.key).quadrant  # type: ignore[union-attr]
    }
    assert moved, "a different crosshair classifies some cell differently"


def test_minimum_answers_is_the_tenants() -> None:
    frame = answers(7)
    strict = ours(frame, CrosshairMode.GRAND_MEANS, min_answers=20)
    statuses = {p.key: p.status for p in strict.services}
    assert statuses["stade"] is Status.NOT_ENOUGH_ANSWERS  # 14 answers
    assert statuses["accueil"] is not Status.NOT_ENOUGH_ANSWERS
    ref = reference_matrix(frame, min_answers=20)
    for p in strict.services:
        check_point(p, ref[("service", p.key)])
    with pytest.raises(ValueError, match="at least 2"):
        MatrixSettings(min_answers=1)


def test_an_area_sums_its_services_and_follows_a_reclassification() -> None:
    cells = {"a": Sums.of(5, 1) + Sums.of(4, 2), "b": Sums.of(2, 4), "c": Sums.of(3, 3)}
    before = build_matrix(
        cells,
        {"a": EntryInfo("A", "X"), "b": EntryInfo("B", "X"), "c": EntryInfo("C", None)},
        MatrixSettings(min_answers=2),
    )
    x = before.find(Scope.AREA, "X")
    assert x is not None
    assert x.n == 3
    assert x.services == 2
    assert x.importance.mean == pytest.approx((5 + 4 + 2) / 3)
    assert before.crosshairs.answers == 4  # the unclassified service counts in the means
    after = build_matrix(
        cells,
        {"a": EntryInfo("A", "X"), "b": EntryInfo("B", "Y"), "c": EntryInfo("C", None)},
        MatrixSettings(min_answers=2),
    )
    assert after.find(Scope.AREA, "X").n == 2  # type: ignore[union-attr]
    assert after.find(Scope.AREA, "Y").n == 1  # type: ignore[union-attr]
    unknown = build_matrix({"z": Sums.of(3, 3)}, {})
    assert unknown.services[0].label == "z"
    assert unknown.areas == []


@pytest.mark.parametrize("df", [1, 2, 3, 5, 9, 10, 29, 30, 99, 250, 1000, 10_000])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995])
def test_student_quantiles_match_scipy(df: int, p: float) -> None:
    assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9)
    assert t_quantile(1 - p, df) == pytest.approx(stats.t.ppf(1 - p, df), rel=1e-9)


def test_sums_are_exact_integers_whatever_the_order() -> None:
    values = [(random.randint(1, 5), random.randint(1, 5)) for _ in range(500)]
    forward = Sums()
    for i, s in values:
        forward = forward + Sums.of(i, s)
    shuffled = values[:]
    random.shuffle(shuffled)
    backward = Sums()
    for i, s in shuffled + values[:100]:
        backward = backward + Sums.of(i, s)
    for i, s in values[:100]:
        backward = backward - Sums.of(i, s)
    assert forward == backward
    assert forward.sum_gap == sum(i - s for i, s in values)
    assert forward.sum_gap_sq == sum((i - s) ** 2 for i, s in values)
