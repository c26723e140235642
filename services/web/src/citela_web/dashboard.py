"""The authority's dashboard (staff of the tenant only): matrix, priorities, service and area
pages, trends. Moderation, partner apps and exports are in dashboard_admin."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from citela_web.context import Web
from citela_web.dashboard_common import (
    PREFIX,
    ROLE_FORBIDDEN,
    AnalyticsStaff,
    Filters,
    Staff,
    StaffMember,
    area_href,
    chart_of,
    chart_point,
    crosshair_words,
    sentiment_bar,
    service_href,
)
from citela_web.errors import Refused
from citela_web.matrix_chart import ChartPoint, line_chart
from citela_web.pages import render

router = APIRouter(prefix=PREFIX, tags=["dashboard"])

EXPLAINED_PRIORITIES = 10  # the first priorities get their comments explained on the page


@router.get("/{tenant}/", response_class=HTMLResponse, response_model=None)
async def matrix(request: Request, tenant: str, staff: StaffMember, ctx: Web) -> Response:
    if not staff.analytics:
        if staff.moderation:  # a moderator's dashboard is the moderation queue
            return RedirectResponse(f"{staff.base}/moderation", status_code=303)
        raise Refused(ROLE_FORBIDDEN)
    filters = Filters.of(request.query_params)
    data: dict[str, Any] | None = None
    points: list[ChartPoint] = []
    areas: list[str] = []
    chart = None
    if not filters.errors:
        data = await staff.get("analytics", f"/v1/tenants/{tenant}/matrix", filters.api_params())
        areas = sorted({str(a["key"]) for a in data["areas"]}, key=str.lower)
        shown = filters.points(data)
        points = [chart_point(tenant, p) for p in shown]
        chart = chart_of(points, data["crosshairs"], await ctx.quadrants.labels(shown))
    if filters.domaine and filters.domaine not in areas:
        areas.append(filters.domaine)
    return render(
        request,
        "dashboard/matrix.html",
        staff.page(
            "matrice",
            filters=filters,
            data=data,
            points=points,
            chart=chart,
            areas=areas,
            crosshair_text=crosshair_words(data["crosshairs"]) if data else "",
            settings=data["settings"] if data else None,
        ),
        status_code=422 if filters.errors else 200,
    )


@router.get("/{tenant}/priorites", response_class=HTMLResponse, response_model=None)
async def priorities(request: Request, tenant: str, staff: AnalyticsStaff, ctx: Web) -> Response:
    filters = Filters.of(request.query_params)
    data: dict[str, Any] | None = None
    explained: list[dict[str, Any]] = []
    if not filters.errors:
        params = {**filters.api_params(), "scope": filters.scope}
        data = await staff.get("analytics", f"/v1/tenants/{tenant}/priorities", params)
        first = data["items"][:EXPLAINED_PRIORITIES]
        details = await asyncio.gather(*(_detail(staff, filters, p) for p in first))
        explained = [
            {
                "point": chart_point(tenant, p),
                "explanation": d["explanation"],
                "bar": sentiment_bar(d["explanation"]["sentiment"]),
            }
            for p, d in zip(first, details, strict=True)
        ]
    return render(
        request,
        "dashboard/priorities.html",
        staff.page(
            "priorites",
            filters=filters,
            data=data,
            explained=explained,
            rest=[chart_point(tenant, p) for p in (data or {}).get("items", [])][
                EXPLAINED_PRIORITIES:
            ],
            not_enough=[chart_point(tenant, p) for p in (data or {}).get("not_enough_answers", [])],
            crosshair_text=crosshair_words(data["crosshairs"]) if data else "",
            quadrants=await ctx.quadrants.listed((data or {}).get("items", [])),
        ),
        status_code=422 if filters.errors else 200,
    )


async def _detail(staff: Staff, filters: Filters, point: Mapping[str, Any]) -> Any:
    if point.get("scope") == "area":
        path = f"/v1/tenants/{staff.tenant}/areas/{quote(str(point['key']), safe='')}"
    else:
        path = f"/v1/tenants/{staff.tenant}/services/{quote(str(point['key']), safe=':')}"
    return await staff.get("analytics", path, filters.api_params())


@router.get("/{tenant}/services/{entry_id:path}", response_class=HTMLResponse, response_model=None)
async def service_page(
    request: Request, tenant: str, entry_id: str, staff: AnalyticsStaff
) -> Response:
    return await _detail_page(request, staff, {"scope": "service", "key": entry_id})


@router.get("/{tenant}/domaines/{area:path}", response_class=HTMLResponse, response_model=None)
async def area_page(request: Request, tenant: str, area: str, staff: AnalyticsStaff) -> Response:
    return await _detail_page(request, staff, {"scope": "area", "key": area})


async def _detail_page(request: Request, staff: Staff, which: Mapping[str, str]) -> Response:
    filters = Filters.of(request.query_params)
    if filters.errors:
        filters = Filters(axes=filters.axes)
    data = await _detail(staff, filters, which)
    point = chart_point(staff.tenant, data["point"])
    members = [chart_point(staff.tenant, s) for s in data.get("services") or []]
    return render(
        request,
        "dashboard/detail.html",
        staff.page(
            "matrice",
            filters=filters,
            data=data,
            point=point,
            area=which["scope"] == "area",
            members=members,
            explanation=data["explanation"],
            bar=sentiment_bar(data["explanation"]["sentiment"]),
            crosshair_text=crosshair_words(data["crosshairs"]),
            public_href=f"/c/{staff.tenant}/services/{quote(point.key, safe=':')}",
            area_link=area_href(staff.tenant, point.policy_area) if point.policy_area else "",
        ),
    )


TREND_WEEKS = (4, 12, 26, 52)


TREND_DETAIL_MAX = 6  # more series than this: an overview table, charts one series at a time


def _first_last(values: list[float | None]) -> tuple[float | None, float | None]:
    known = [v for v in values if v is not None]
    return (known[0], known[-1]) if known else (None, None)


def trend_views(
    staff: Staff, data: Mapping[str, Any], scope: str, weeks: int, *, detailed: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The trends page's overview rows (first and last week of each series) and, when
    ``detailed``, each series' weekly table and small charts."""
    tenant = staff.tenant
    week_days: list[str] = [str(w) for w in data["weeks"]]
    level = "domaines" if scope == "area" else "services"
    overview: list[dict[str, Any]] = []
    series: list[dict[str, Any]] = []
    for s in data["series"]:
        by_week = {str(p["week_start"]): p for p in s["points"]}
        rows = [by_week.get(w) for w in week_days]
        sat = [r["satisfaction"] if r else None for r in rows]
        imp = [r["importance"] if r else None for r in rows]
        sat_first, sat_last = _first_last(sat)
        imp_first, imp_last = _first_last(imp)
        last = next((r for r in reversed(rows) if r), None)
        overview.append(
            {
                "label": s["label"],
                "href": f"{staff.base}/tendances?"
                + urlencode({"niveau": level, "semaines": weeks, "cle": s["key"]}),
                "n": last["n"] if last else None,
                "sat_first": sat_first,
                "sat_last": sat_last,
                "sat_delta": None
                if sat_first is None or sat_last is None
                else sat_last - sat_first,
                "imp_first": imp_first,
                "imp_last": imp_last,
                "imp_delta": None
                if imp_first is None or imp_last is None
                else imp_last - imp_first,
            }
        )
        if not detailed:
            continue
        series.append(
            {
                "label": s["label"],
                "key": s["key"],
                "href": area_href(tenant, s["key"])
                if scope == "area"
                else service_href(tenant, s["key"]),
                "rows": list(zip(week_days, rows, strict=True)),
                "charts": [
                    ("Satisfaction moyenne", line_chart(week_days, sat, low=1, high=5)),
                    ("Importance moyenne", line_chart(week_days, imp, low=1, high=5)),
                    (
                        "Nombre de réponses",
                        line_chart(
                            week_days, [float(r["n"]) if r else None for r in rows], digits=0
                        ),
                    ),
                ],
            }
        )
    return overview, series


@router.get("/{tenant}/tendances", response_class=HTMLResponse, response_model=None)
async def trends(request: Request, tenant: str, staff: AnalyticsStaff) -> Response:
    query = request.query_params
    niveau = query.get("niveau", "domaines")
    scope = "service" if niveau == "services" else "area"
    try:
        weeks = int(query.get("semaines", "12"))
    except ValueError:
        weeks = 12
    weeks = weeks if weeks in TREND_WEEKS else 12
    key = query.get("cle", "").strip()[:250]
    path = f"/v1/tenants/{tenant}/trends"
    every = await staff.get("analytics", path, {"scope": scope, "weeks": weeks})
    data = (
        await staff.get("analytics", path, {"scope": scope, "weeks": weeks, "key": key})
        if key
        else every
    )
    week_days: list[str] = [str(w) for w in data["weeks"]]
    level = "domaines" if scope == "area" else "services"
    choices = sorted(((s["key"], s["label"]) for s in every["series"]), key=lambda c: c[1])
    # Charts for every series of a large tenant would weigh hundreds of kilobytes on a phone:
    # past a few series, one table compares them and each opens on its own.
    detailed = bool(key) or len(data["series"]) <= TREND_DETAIL_MAX
    overview, series = trend_views(staff, data, scope, weeks, detailed=detailed)
    return render(
        request,
        "dashboard/trends.html",
        staff.page(
            "tendances",
            data=data,
            weeks=week_days,
            series=series,
            overview=overview,
            detailed=detailed,
            choices=choices,
            niveau=level,
            semaines=weeks,
            week_choices=TREND_WEEKS,
            cle=key,
        ),
    )
