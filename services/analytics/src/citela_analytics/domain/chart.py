"""The matrix as an inline SVG chart: satisfaction across, importance up, crosshairs dashed.

Quadrants are tinted (act first top left), each point is its priority number; a hollow point
is uncertain (an interval contains a crosshair); thin bars show the 95 % intervals. Cells
without enough answers are not drawn. Plain SVG 1.1, readable on screen and in print.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from citela_analytics.domain.matrix import (
    QUADRANT_LABELS_FR,
    Crosshairs,
    Point,
    Quadrant,
    Status,
)

WIDTH, HEIGHT = 720, 540
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 60

COLOURS: dict[Quadrant, str] = {
    Quadrant.ACT_FIRST: "#c9191e",
    Quadrant.KEEP_UP: "#18753c",
    Quadrant.SECONDARY: "#666666",
    Quadrant.OVER_INVESTMENT: "#0063cb",
}
TINTS: dict[Quadrant, str] = {
    Quadrant.ACT_FIRST: "#fdecec",
    Quadrant.KEEP_UP: "#e9f6ee",
    Quadrant.SECONDARY: "#f3f3f3",
    Quadrant.OVER_INVESTMENT: "#e8f0fb",
}


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _bounds(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = max((high - low) * 0.08, 0.15)
    return max(1.0, low - pad), min(5.0, high + pad)


def matrix_svg(points: Sequence[Point], crosshairs: Crosshairs, *, title: str) -> str:
    """The chart of ``points`` (services or areas) as an ``<svg>`` element."""
    drawn = [p for p in points if p.status is not Status.NOT_ENOUGH_ANSWERS]
    ci = crosshairs.importance if crosshairs.importance is not None else 3.0
    cs = crosshairs.satisfaction if crosshairs.satisfaction is not None else 3.0
    xs = [cs] + [v for p in drawn for v in (p.satisfaction.ci_low, p.satisfaction.ci_high) if v]
    ys = [ci] + [v for p in drawn for v in (p.importance.ci_low, p.importance.ci_high) if v]
    xs += [p.satisfaction.mean for p in drawn if p.satisfaction.mean is not None]
    ys += [p.importance.mean for p in drawn if p.importance.mean is not None]
    x0, x1 = _bounds(xs)
    y0, y1 = _bounds(ys)
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(v: float) -> float:
        return LEFT + (min(max(v, x0), x1) - x0) / (x1 - x0) * pw

    def y(v: float) -> float:
        return TOP + ph - (min(max(v, y0), y1) - y0) / (y1 - y0) * ph

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="chart-title" class="matrice" '
        f'font-family="Marianne, Arial, sans-serif" font-size="12">',
        f'<title id="chart-title">{escape(title)}</title>',
    ]
    cx, cy = x(cs), y(ci)
    quads = [
        (Quadrant.ACT_FIRST, LEFT, TOP, cx - LEFT, cy - TOP),
        (Quadrant.KEEP_UP, cx, TOP, LEFT + pw - cx, cy - TOP),
        (Quadrant.SECONDARY, LEFT, cy, cx - LEFT, TOP + ph - cy),
        (Quadrant.OVER_INVESTMENT, cx, cy, LEFT + pw - cx, TOP + ph - cy),
    ]
    for quadrant, qx, qy, qw, qh in quads:
        out.append(
            f'<rect x="{qx:.1f}" y="{qy:.1f}" width="{max(qw, 0):.1f}" '
            f'height="{max(qh, 0):.1f}" fill="{TINTS[quadrant]}"/>'
        )
    label_pos = {
        Quadrant.ACT_FIRST: (LEFT + 6, TOP + 16, "start"),
        Quadrant.KEEP_UP: (LEFT + pw - 6, TOP + 16, "end"),
        Quadrant.SECONDARY: (LEFT + 6, TOP + ph - 8, "start"),
        Quadrant.OVER_INVESTMENT: (LEFT + pw - 6, TOP + ph - 8, "end"),
    }
    for quadrant, (lx, ly, anchor) in label_pos.items():
        out.append(
            f'<text x="{lx}" y="{ly}" text-anchor="{anchor}" font-weight="bold" '
            f'fill="{COLOURS[quadrant]}">{escape(QUADRANT_LABELS_FR[quadrant])}</text>'
        )
    # axes and ticks
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#929292"/>'
    )
    step = 0.5 if (x1 - x0) > 1.5 or (y1 - y0) > 1.5 else 0.25
    tick = 1.0
    while tick <= 5.0:
        if x0 <= tick <= x1:
            out.append(
                f'<line x1="{x(tick):.1f}" y1="{TOP + ph}" x2="{x(tick):.1f}" '
                f'y2="{TOP + ph + 5}" stroke="#929292"/>'
                f'<text x="{x(tick):.1f}" y="{TOP + ph + 18}" text-anchor="middle">'
                f"{_fmt(tick).replace('.', ',')}</text>"
            )
        if y0 <= tick <= y1:
            out.append(
                f'<line x1="{LEFT - 5}" y1="{y(tick):.1f}" x2="{LEFT}" y2="{y(tick):.1f}" '
                f'stroke="#929292"/><text x="{LEFT - 8}" y="{y(tick) + 4:.1f}" '
                f'text-anchor="end">{_fmt(tick).replace(".", ",")}</text>'
            )
        tick += step
    out.append(
        f'<text x="{LEFT + pw / 2:.1f}" y="{HEIGHT - 18}" text-anchor="middle">'
        "Satisfaction moyenne (1 à 5)</text>"
        f'<text transform="translate(18 {TOP + ph / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">Importance moyenne (1 à 5)</text>'
    )
    # crosshairs
    out.append(
        f'<line x1="{cx:.1f}" y1="{TOP}" x2="{cx:.1f}" y2="{TOP + ph}" stroke="#161616" '
        f'stroke-dasharray="6 4"/><line x1="{LEFT}" y1="{cy:.1f}" x2="{LEFT + pw}" '
        f'y2="{cy:.1f}" stroke="#161616" stroke-dasharray="6 4"/>'
    )
    # intervals, then points
    for p in drawn:
        assert p.quadrant is not None
        assert p.importance.mean is not None
        assert p.satisfaction.mean is not None
        colour = COLOURS[p.quadrant]
        px, py = x(p.satisfaction.mean), y(p.importance.mean)
        if p.satisfaction.ci_low is not None and p.satisfaction.ci_high is not None:
            out.append(
                f'<line x1="{x(p.satisfaction.ci_low):.1f}" y1="{py:.1f}" '
                f'x2="{x(p.satisfaction.ci_high):.1f}" y2="{py:.1f}" stroke="{colour}" '
                f'stroke-opacity="0.45"/>'
            )
        if p.importance.ci_low is not None and p.importance.ci_high is not None:
            out.append(
                f'<line x1="{px:.1f}" y1="{y(p.importance.ci_low):.1f}" x2="{px:.1f}" '
                f'y2="{y(p.importance.ci_high):.1f}" stroke="{colour}" stroke-opacity="0.45"/>'
            )
    for p in drawn:
        assert p.quadrant is not None
        assert p.importance.mean is not None
        assert p.satisfaction.mean is not None
        colour = COLOURS[p.quadrant]
        px, py = x(p.satisfaction.mean), y(p.importance.mean)
        fill = "#ffffff" if p.status is Status.UNCERTAIN else colour
        text_fill = colour if p.status is Status.UNCERTAIN else "#ffffff"
        out.append(
            f'<g class="point"><title>{escape(p.label)} — importance '
            f"{p.importance.mean:.2f}, satisfaction {p.satisfaction.mean:.2f}, "
            f"n = {p.n}</title>"
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="11" fill="{fill}" stroke="{colour}" '
            f'stroke-width="2"/><text x="{px:.1f}" y="{py + 4:.1f}" text-anchor="middle" '
            f'font-size="11" font-weight="bold" fill="{text_fill}">{p.priority or ""}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out)
