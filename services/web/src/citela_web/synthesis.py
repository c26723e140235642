"""The synthesis report's page: what the analytics API kept of a report (its matrix and the
explanations of its first priorities), drawn with the dashboard's chart, tables and blocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from citela_web.dashboard_common import (
    Filters,
    chart_of,
    chart_point,
    crosshair_words,
    ordered,
    sentiment_bar,
)
from citela_web.matrix_chart import ChartPoint
from citela_web.quadrants import Quadrant


@dataclass(frozen=True)
class Explained:
    point: ChartPoint
    explanation: Mapping[str, Any]
    bar: list[dict[str, Any]]


def report_page(
    tenant: str, content: Mapping[str, Any], quadrants: Sequence[Quadrant]
) -> dict[str, Any]:
    """The report template's context. ``quadrants``: the analytics API's, in priority order."""
    matrix = content["matrix"]
    cross = matrix["crosshairs"]
    names = {q.code: q.label for q in quadrants}
    services = [chart_point(tenant, p) for p in ordered(matrix["services"])]
    areas = [chart_point(tenant, p) for p in ordered(matrix["areas"])]
    by_key = {p.key: p for p in services}
    explained = [
        Explained(by_key[e["key"]], e["explanation"], sentiment_bar(e["explanation"]["sentiment"]))
        for e in content["explained"]
        if e["key"] in by_key
    ]
    period = matrix["period"]
    first = quadrants[0] if quadrants else None
    return {
        "generated_at": content["generated_at"],
        "period_words": Filters(
            du=period.get("from") or "", au=period.get("to") or ""
        ).period_words,
        "settings": matrix["settings"],
        "crosshairs": cross,
        "crosshair_text": crosshair_words(cross),
        "quadrants": quadrants,
        "first_quadrant": first,
        "services": services,
        "areas": areas,
        "placed": [p for p in services if p.status != "not_enough_answers"],
        "act_first": [p for p in services if first is not None and p.quadrant == first.code],
        "short": [p for p in services if p.status == "not_enough_answers"],
        "services_chart": chart_of(services, cross, names),
        "areas_chart": chart_of(areas, cross, names),
        "explained": explained,
    }
