"""Geometry of the dashboard's charts: scales, quadrants, confidence intervals, line charts."""

from __future__ import annotations

import pytest

from citela_web.filters import french_signed
from citela_web.matrix_chart import (
    ChartPoint,
    Estimate,
    Frame,
    build_chart,
    clamp,
    describe,
    line_chart,
)

FRAME = Frame(width=640, height=520, left=64, right=24, top=24, bottom=64)
NAMES = {  # as the analytics API names them (GET /v1/quadrants)
    "act_first": "À traiter en priorité",
    "keep_up": "À maintenir",
    "secondary": "Secondaire",
    "over_investment": "Surinvestissement possible",
}


def point(
    label: str,
    importance: float | None,
    satisfaction: float | None,
    *,
    ci: float = 0.3,
    n: int = 12,
    status: str = "clear",
    quadrant: str | None = None,
) -> ChartPoint:
    def est(mean: float | None) -> Estimate:
        if mean is None:
            return Estimate(None)
        return Estimate(mean, mean - ci, mean + ci)

    gap = None if importance is None or satisfaction is None else importance - satisfaction
    return ChartPoint(
        key=f"service-public:{label.lower().replace(' ', '-')}",
        label=label,
        n=n,
        importance=est(importance),
        satisfaction=est(satisfaction),
        gap=Estimate(gap),
        quadrant=quadrant,
        quadrant_label=NAMES[quadrant] if quadrant else None,
        status=status,
        href=f"/tableau-de-bord/t/services/{label}",
    )


def test_scales_map_one_to_five_onto_the_plot_area() -> None:
    # satisfaction grows to the right, importance upwards (SVG's y grows downwards)
    assert FRAME.x(1) == 64
    assert FRAME.x(5) == 616
    assert FRAME.x(3) == 340
    assert FRAME.y(5) == 24
    assert FRAME.y(1) == 456
    assert FRAME.y(3) == 240
    assert FRAME.x(2) < FRAME.x(4)
    assert FRAME.y(4) < FRAME.y(2)
    # out of the scale: kept on the frame, never drawn outside it
    assert FRAME.x(0.2) == FRAME.x(1)
    assert FRAME.y(7) == FRAME.y(5)


@pytest.mark.parametrize(
    ("importance", "satisfaction", "quadrant"),
    [(4.75, 1.9, "act_first"), (4.6, 4.5, "keep_up"), (2.3, 2.2, "secondary"),
     (2.4, 4.7, "over_investment")],
)  # fmt: skip
def test_each_point_lands_in_the_region_of_its_quadrant(
    importance: float, satisfaction: float, quadrant: str
) -> None:
    chart = build_chart([point("Service", importance, satisfaction)], 3.61, 3.30, FRAME)
    marker = chart.markers[0]
    region = next(r for r in chart.regions if r.quadrant == quadrant)
    assert region.x <= marker.cx <= region.x + region.width
    assert region.y <= marker.cy <= region.y + region.height
    others = [r for r in chart.regions if r.quadrant != quadrant]
    assert not any(
        r.x < marker.cx < r.x + r.width and r.y < marker.cy < r.y + r.height for r in others
    )


def test_regions_tile_the_plot_around_the_crosshairs() -> None:
    chart = build_chart([], 3.61, 3.30, FRAME, names=NAMES)
    assert chart.cross_x == FRAME.x(3.30)
    assert chart.cross_y == FRAME.y(3.61)
    area = sum(r.width * r.height for r in chart.regions)
    assert area == pytest.approx(FRAME.plot_width * FRAME.plot_height)
    assert {r.quadrant: r.name for r in chart.regions} == NAMES  # the API's names
    act_first = next(r for r in chart.regions if r.quadrant == "act_first")
    assert (act_first.x, act_first.y) == (FRAME.x_min, FRAME.y_min)  # top left


def test_confidence_intervals_are_clamped_to_the_scale() -> None:
    chart = build_chart(
        [point("Conservatoire", 3.67, 3.67, ci=1.43, n=3, status="not_enough_answers")],
        3.0,
        3.0,
        FRAME,
    )
    m = chart.markers[0]
    assert m.x_low == FRAME.x(2.24)
    assert m.x_high == FRAME.x(5) == FRAME.x_max
    assert m.y_high == FRAME.y(5) == FRAME.y_min
    assert m.y_low == FRAME.y(2.24)
    assert m.style == "not-enough"
    # the words say the clamped bound too
    assert "Importance 3,7 (IC 95 % 2,2 à 5,0)" in describe(m.point)
    assert "Pas assez de réponses pour conclure" in describe(m.point)


def test_markers_are_numbered_styled_and_described() -> None:
    chart = build_chart(
        [
            point("CCAS de Lamorlaye", 4.75, 1.92, quadrant="act_first"),
            point("Sans réponse", None, None, n=0, status="not_enough_answers"),
            point("Piscine", 3.5, 3.4, status="uncertain", quadrant="keep_up"),
            point("Seul avis", 4.0, 2.0, n=1, status="not_enough_answers"),
        ],
        3.6,
        3.3,
        FRAME,
    )
    assert [m.number for m in chart.markers] == [1, 3, 4]  # numbers follow the table's rows
    assert [p.label for p in chart.left_out] == ["Sans réponse"]
    assert [m.style for m in chart.markers] == ["clear", "uncertain", "not-enough"]
    first = chart.markers[0]
    assert first.aria_label.startswith("1. CCAS de Lamorlaye, 12 réponses, Importance 4,8")
    assert "Écart +2,8" in first.aria_label
    assert "À traiter en priorité" in first.aria_label
    assert "Position incertaine" in " ".join(chart.markers[1].tooltip)
    # one answer: no interval, so no error bar
    lone = ChartPoint(
        key="k", label="Seul avis", n=1, importance=Estimate(4.0), satisfaction=Estimate(2.0),
        gap=Estimate(2.0), quadrant=None, quadrant_label=None, status="not_enough_answers",
        href="/",
    )  # fmt: skip
    m = build_chart([lone], 3, 3, FRAME).markers[0]
    assert m.x_low is None
    assert m.y_low is None
    assert "1 réponse" in m.tooltip


def test_labels_near_the_right_edge_go_to_the_left() -> None:
    chart = build_chart([point("A", 3, 4.9), point("B", 3, 1.5)], 3, 3, FRAME)
    right, left = chart.markers
    assert right.label_anchor == "end"
    assert right.label_x < right.cx
    assert left.label_anchor == "start"
    assert left.label_x > left.cx


def test_clamp() -> None:
    assert clamp(0.5) == 1
    assert clamp(5.2) == 5
    assert clamp(3.3) == 3.3


def test_line_chart_breaks_on_weeks_without_answers() -> None:
    weeks = ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16"]
    chart = line_chart(weeks, [2.0, 3.0, None, 5.0], low=1, high=5)
    assert len(chart.segments) == 2
    assert [p.week for p in chart.points] == ["2026-10-26", "2026-11-02", "2026-11-16"]
    top = chart.top
    bottom = chart.height - chart.bottom
    assert chart.points[-1].y == top  # 5 at the top of a 1–5 scale
    assert chart.points[0].y == pytest.approx(bottom - (bottom - top) / 4)
    assert chart.points[0].x == chart.left
    assert chart.points[-1].x == chart.width - chart.right
    a, b, c = chart.points
    assert chart.path == [f"M{a.x},{a.y} L{b.x},{b.y}", f"M{c.x},{c.y}"]
    counts = line_chart(weeks, [0.0, 12.0, 30.0, 46.0], digits=0)
    assert counts.high == 46
    assert counts.points[-1].text == "46"
    assert [t.text for t in counts.y_ticks] == ["0", "23", "46"]


def test_a_zoomed_chart_shows_the_part_of_the_scale_the_answers_use() -> None:
    points = [point("CCAS", 4.4, 2.2), point("Mairie", 4.1, 4.3), point("Piscine", 3.1, 3.0)]
    chart = build_chart(points, 3.9, 3.4, FRAME, zoom=True)
    f = chart.frame
    assert f.zoomed
    # means and crosshair, a quarter point of margin, on half points
    assert (f.sat_low, f.sat_high) == (1.5, 5.0)
    assert (f.imp_low, f.imp_high) == (2.5, 5.0)
    assert [t.text for t in chart.y_ticks] == ["2,5", "3", "3,5", "4", "4,5", "5"]
    assert [t.text for t in chart.x_ticks] == ["2", "3", "4", "5"]  # wide: whole points
    # the extremes of the view are the edges of the plot; a CI beyond it is cut at the edge
    assert f.y(2.5) == f.y_max
    assert f.y(5.0) == f.y_min
    assert f.y(1.0) == f.y_max
    ccas = chart.markers[0]
    assert f.x_min < ccas.cx < chart.cross_x  # still left of the crosshair: act first


def test_a_narrow_range_is_widened_to_a_point_and_a_half() -> None:
    chart = build_chart([point("Seul", 3.5, 3.5)], 3.5, 3.5, FRAME, zoom=True)
    assert chart.frame.sat_high - chart.frame.sat_low >= 1.5
    assert build_chart([point("Seul", 3.5, 3.5)], 3.5, 3.5, FRAME).frame.zoomed is False


def test_names_are_drawn_for_a_dozen_points_and_numbers_only_beyond() -> None:
    few = [point(f"Service {i}", 3 + i / 10, 3 + i / 12) for i in range(12)]
    assert build_chart(few, 3.5, 3.5, FRAME).show_names
    many = [*few, point("Treizième", 4.0, 2.0)]
    assert not build_chart(many, 3.5, 3.5, FRAME).show_names


def test_differences_are_signed_with_a_minus_sign() -> None:
    assert french_signed(2.84) == "+2,8"
    assert french_signed(-0.43) == "\u22120,4"
    assert french_signed(0.04) == "0,0"
    assert french_signed(None) == "—"
