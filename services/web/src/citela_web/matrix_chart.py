"""Geometry of the dashboard's charts, as plain data a template draws as inline SVG.

The importance × satisfaction matrix: satisfaction on x, importance on y, both on the 1–5
scale; crosshairs split it into four quadrants; each cell is a marker with its 95 % confidence
intervals as error bars. And the small weekly line charts of the trends page. Pure Python:
no template, no HTTP, so the geometry is unit-tested on its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from citela_web.filters import french_number, french_signed

SCALE_MIN = 1.0
SCALE_MAX = 5.0

# Where each of the analytics API's quadrant codes is drawn: (high importance, high
# satisfaction), i.e. its corner of the chart. Which point falls in which quadrant, and the
# quadrants' names, are the API's: every point carries its code and label, and the regions are
# named from `GET /v1/quadrants` (citela_web.quadrants).
CORNERS: dict[str, tuple[bool, bool]] = {
    "act_first": (True, False),
    "keep_up": (True, True),
    "secondary": (False, False),
    "over_investment": (False, True),
}


def clamp(value: float, low: float = SCALE_MIN, high: float = SCALE_MAX) -> float:
    return max(low, min(high, value))


@dataclass(frozen=True)
class Frame:
    """The SVG's coordinate system: a viewBox of width × height around the plot area, and the
    part of the 1–5 scales each axis shows (all of it, unless zoomed on the data)."""

    width: float = 640
    height: float = 520
    left: float = 64
    right: float = 24
    top: float = 24
    bottom: float = 64
    sat_low: float = SCALE_MIN
    sat_high: float = SCALE_MAX
    imp_low: float = SCALE_MIN
    imp_high: float = SCALE_MAX

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def zoomed(self) -> bool:
        return (self.sat_low, self.sat_high, self.imp_low, self.imp_high) != (
            SCALE_MIN, SCALE_MAX, SCALE_MIN, SCALE_MAX,
        )  # fmt: skip

    def x(self, satisfaction: float) -> float:
        value = clamp(satisfaction, self.sat_low, self.sat_high)
        share = (value - self.sat_low) / (self.sat_high - self.sat_low)
        return round(self.left + share * self.plot_width, 2)

    def y(self, importance: float) -> float:
        value = clamp(importance, self.imp_low, self.imp_high)
        share = (value - self.imp_low) / (self.imp_high - self.imp_low)
        return round(self.top + (1 - share) * self.plot_height, 2)

    @property
    def x_min(self) -> float:
        return self.left

    @property
    def x_max(self) -> float:
        return self.left + self.plot_width

    @property
    def y_min(self) -> float:
        return self.top

    @property
    def y_max(self) -> float:
        return self.top + self.plot_height


def axis_range(
    values: Sequence[float], *, margin: float = 0.25, span: float = 1.5
) -> tuple[float, float]:
    """The part of the 1–5 scale that shows ``values`` with a margin, on half points, at least
    ``span`` wide: answers crowd between 2 and 4.5, and on the whole scale 30 services overlap."""
    if not values:
        return SCALE_MIN, SCALE_MAX
    low = max(SCALE_MIN, math.floor((min(values) - margin) * 2) / 2)
    high = min(SCALE_MAX, math.ceil((max(values) + margin) * 2) / 2)
    while high - low < span:
        low, high = max(SCALE_MIN, low - 0.5), min(SCALE_MAX, high + 0.5)
    return low, high


@dataclass(frozen=True)
class Estimate:
    mean: float | None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class ChartPoint:
    """One cell of the matrix (a service or a policy area), as the analytics API gives it."""

    key: str
    label: str
    n: int
    importance: Estimate
    satisfaction: Estimate
    gap: Estimate
    quadrant: str | None
    quadrant_label: str | None
    status: str
    href: str
    policy_area: str | None = None
    priority: int | None = None


@dataclass(frozen=True)
class Region:
    quadrant: str
    name: str
    x: float
    y: float
    width: float
    height: float
    label_x: float
    label_y: float
    anchor: str  # text-anchor of the name, towards the outer corner


@dataclass(frozen=True)
class Tick:
    value: float
    position: float
    text: str


@dataclass(frozen=True)
class Marker:
    number: int
    point: ChartPoint
    cx: float
    cy: float
    x_low: float | None  # satisfaction interval, clamped to the scale
    x_high: float | None
    y_low: float | None  # importance interval (y_low is the lower value: larger y)
    y_high: float | None
    label_x: float
    label_anchor: str
    aria_label: str
    tooltip: list[str] = field(default_factory=list)

    @property
    def style(self) -> str:
        """Marker shape: filled (clear), hollow dashed (uncertain), hollow dotted square."""
        return {"not_enough_answers": "not-enough", "uncertain": "uncertain"}.get(
            self.point.status, "clear"
        )


@dataclass(frozen=True)
class Chart:
    frame: Frame
    regions: list[Region]
    cross_x: float
    cross_y: float
    cross_importance: float
    cross_satisfaction: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    markers: list[Marker]
    left_out: list[ChartPoint]  # cells without a mean (no answer): in the table only
    show_names: bool = True  # past a dozen points the names overlap: numbers, the table as key


def _fr(value: float | None, digits: int = 1) -> str:
    return french_number(value, digits)


def _interval(e: Estimate) -> str:
    if e.ci_low is None or e.ci_high is None:
        return ""
    return f" (IC 95 % {_fr(clamp(e.ci_low))} à {_fr(clamp(e.ci_high))})"


def describe(p: ChartPoint) -> list[str]:
    """The figures of a point, one line each: the tooltip, the aria-label, the <title>."""
    answers = "réponse" if p.n == 1 else "réponses"
    lines = [
        p.label,
        f"{p.n} {answers}",
        f"Importance {_fr(p.importance.mean)}{_interval(p.importance)}",
        f"Satisfaction {_fr(p.satisfaction.mean)}{_interval(p.satisfaction)}",
        f"Écart {french_signed(p.gap.mean)}",
    ]
    if p.status == "not_enough_answers":
        lines.append("Pas assez de réponses pour conclure")
    else:
        lines.append(p.quadrant_label or "")
        if p.status == "uncertain":
            lines.append("Position incertaine (intervalle à cheval sur un axe)")
    return [line for line in lines if line]


NAMES_MAX = 12


def _region(
    code: str,
    high_importance: bool,
    high_satisfaction: bool,
    f: Frame,
    cx: float,
    cy: float,
    names: Mapping[str, str],
) -> Region:
    """One quadrant's rectangle, its name in its outer corner."""
    x, width = (cx, f.x_max - cx) if high_satisfaction else (f.x_min, cx - f.x_min)
    y, height = (f.y_min, cy - f.y_min) if high_importance else (cy, f.y_max - cy)
    return Region(
        quadrant=code,
        name=names.get(code, ""),
        x=x,
        y=y,
        width=width,
        height=height,
        label_x=f.x_max - 8 if high_satisfaction else f.x_min + 8,
        label_y=f.y_min + 18 if high_importance else f.y_max - 10,
        anchor="end" if high_satisfaction else "start",
    )


def build_chart(
    points: Sequence[ChartPoint],
    cross_importance: float,
    cross_satisfaction: float,
    frame: Frame | None = None,
    *,
    names: Mapping[str, str] | None = None,
    zoom: bool = False,
) -> Chart:
    """Place every point that has means; number them in the order given (the table's).

    ``names``: the quadrants' names by code, as the analytics API gives them.
    ``zoom``: each axis shows only the part of the scale the means and the crosshair need."""
    f = frame or Frame()
    if zoom:
        sats = [p.satisfaction.mean for p in points if p.satisfaction.mean is not None]
        imps = [p.importance.mean for p in points if p.importance.mean is not None]
        sat_low, sat_high = axis_range([*sats, cross_satisfaction])
        imp_low, imp_high = axis_range([*imps, cross_importance])
        f = replace(f, sat_low=sat_low, sat_high=sat_high, imp_low=imp_low, imp_high=imp_high)
    cx, cy = f.x(cross_satisfaction), f.y(cross_importance)
    regions = [_region(code, *corner, f, cx, cy, names or {}) for code, corner in CORNERS.items()]
    x_values = _tick_values(f.sat_low, f.sat_high)
    y_values = _tick_values(f.imp_low, f.imp_high)
    markers: list[Marker] = []
    left_out: list[ChartPoint] = []
    number = 0
    for p in points:
        number += 1
        imp, sat = p.importance, p.satisfaction
        if imp.mean is None or sat.mean is None:
            left_out.append(p)
            continue
        px, py = f.x(sat.mean), f.y(imp.mean)
        has_x = sat.ci_low is not None and sat.ci_high is not None
        has_y = imp.ci_low is not None and imp.ci_high is not None
        near_right = px > f.x_max - 150
        lines = describe(p)
        markers.append(
            Marker(
                number=number,
                point=p,
                cx=px,
                cy=py,
                x_low=f.x(sat.ci_low) if has_x and sat.ci_low is not None else None,
                x_high=f.x(sat.ci_high) if has_x and sat.ci_high is not None else None,
                y_low=f.y(imp.ci_low) if has_y and imp.ci_low is not None else None,
                y_high=f.y(imp.ci_high) if has_y and imp.ci_high is not None else None,
                label_x=px - 11 if near_right else px + 11,
                label_anchor="end" if near_right else "start",
                aria_label=f"{number}. " + ", ".join(lines) + ".",
                tooltip=lines,
            )
        )
    return Chart(
        frame=f,
        regions=regions,
        cross_x=cx,
        cross_y=cy,
        cross_importance=cross_importance,
        cross_satisfaction=cross_satisfaction,
        x_ticks=[Tick(v, f.x(v), _tick_text(v)) for v in x_values],
        y_ticks=[Tick(v, f.y(v), _tick_text(v)) for v in y_values],
        markers=markers,
        left_out=left_out,
        show_names=len(markers) <= NAMES_MAX,
    )


def _tick_values(low: float, high: float) -> list[float]:
    """Whole points on a wide range, half points on a narrow one."""
    step = 1.0 if high - low > 2.5 else 0.5
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _tick_text(value: float) -> str:
    return _fr(value, 0) if value == int(value) else _fr(value, 1)


# --- weekly line charts ----------------------------------------------------------------------


@dataclass(frozen=True)
class LinePoint:
    x: float
    y: float
    value: float
    text: str
    week: str


@dataclass(frozen=True)
class LineChart:
    width: float
    height: float
    left: float
    top: float
    bottom: float
    right: float
    low: float
    high: float
    segments: list[list[LinePoint]]  # weeks without a value break the line
    points: list[LinePoint]
    y_ticks: list[Tick]

    @property
    def path(self) -> list[str]:
        return [
            " ".join(("M" if i == 0 else "L") + f"{p.x},{p.y}" for i, p in enumerate(seg))
            for seg in self.segments
        ]


def line_chart(
    weeks: Sequence[str],
    values: Sequence[float | None],
    *,
    low: float | None = None,
    high: float | None = None,
    digits: int = 1,
    width: float = 280,
    height: float = 140,
) -> LineChart:
    """A small line chart of one weekly figure; a fixed scale (1–5) when low/high are given."""
    left, right, top, bottom = 36.0, 10.0, 10.0, 24.0
    known = [v for v in values if v is not None]
    lo = low if low is not None else 0.0
    hi = high if high is not None else max([*known, 1.0])
    if hi <= lo:
        hi = lo + 1
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(1, len(weeks) - 1)
    points: list[LinePoint] = []
    segments: list[list[LinePoint]] = []
    current: list[LinePoint] = []
    for i, (week, value) in enumerate(zip(weeks, values, strict=True)):
        if value is None:
            if current:
                segments.append(current)
            current = []
            continue
        share = (min(max(value, lo), hi) - lo) / (hi - lo)
        lp = LinePoint(
            x=round(left + (i * step if len(weeks) > 1 else plot_w / 2), 2),
            y=round(top + (1 - share) * plot_h, 2),
            value=value,
            text=french_number(value, digits),
            week=week,
        )
        points.append(lp)
        current.append(lp)
    if current:
        segments.append(current)
    middle = (lo + hi) / 2
    ticks = [
        Tick(v, round(top + (1 - (v - lo) / (hi - lo)) * plot_h, 2), french_number(v, digits))
        for v in (lo, middle, hi)
    ]
    return LineChart(width, height, left, top, bottom, right, lo, hi, segments, points, ticks)
