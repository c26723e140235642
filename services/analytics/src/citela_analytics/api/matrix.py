"""The matrix of a tenant: its points, its priorities, its weekly trends, its CSV export."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response
from fastapi.responses import JSONResponse

from citela_analytics import reads, synthesis
from citela_analytics.api.deps import (
    Context,
    Crosshair,
    Runtime,
    TenantRead,
    Territory,
    Window,
    tenant_router,
)
from citela_analytics.domain.matrix import Scope
from citela_analytics.schemas import MatrixOut, PrioritiesOut, TrendsOut
from citela_common.web.params import TenantCode

router = tenant_router()


@router.get(
    "/matrix",
    response_model=MatrixOut,
    summary="The importance × satisfaction matrix: services and policy areas",
    description="Every service and policy area with answers in the period, with all "
    "figures (see the schema for each definition), the crosshairs in use and both "
    "possible crosshairs.",
)
def get_matrix(
    read: TenantRead,
    ctx: Context,
    tenant: TenantCode,
    period: Window,
    crosshair: Crosshair = None,
    territory: Territory = None,
) -> Response:
    return read.cached(
        lambda session, generation: reads.matrix(
            ctx.reads, session, tenant, generation, period, crosshair, territory
        )
    )


@router.get(
    "/priorities",
    response_model=PrioritiesOut,
    summary="Priorities: Prio. 1, 2, 3… of the services (or of the policy areas)",
)
def get_priorities(
    read: TenantRead,
    ctx: Context,
    tenant: TenantCode,
    period: Window,
    scope: Annotated[Scope, Query(description="rank services or policy areas")] = Scope.SERVICE,
    crosshair: Crosshair = None,
    territory: Territory = None,
) -> Response:
    return read.cached(
        lambda session, generation: reads.priorities(
            ctx.reads, session, tenant, generation, period, scope, crosshair, territory
        )
    )


@router.get(
    "/trends",
    response_model=TrendsOut,
    summary="Weekly trends of the matrix, from the weekly snapshots",
    description="One series per service (or policy area), one point per week: the matrix "
    "over every answer submitted up to the end of that week. Weeks without a snapshot "
    "taken at the time are backfilled from the facts (and flagged).",
)
def get_trends(
    runtime: Runtime,
    tenant: TenantCode,
    scope: Annotated[Scope, Query()] = Scope.SERVICE,
    key: Annotated[
        str | None, Query(max_length=250, description="one service id or area name")
    ] = None,
    weeks: Annotated[int, Query(ge=1, le=104, description="how many weeks back")] = 12,
) -> Response:
    body = reads.trends(runtime.db, tenant, scope, key, weeks, runtime.context.min_answers)
    return JSONResponse(body.model_dump(mode="json"))


@router.get(
    "/export.csv",
    summary="The matrix as CSV (one row per service and per policy area)",
    description="Columns: " + ", ".join(synthesis.CSV_COLUMNS) + ". Decimal point, "
    "comma separator, UTF-8 (RFC 4180); empty cells where a figure is undefined.",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_csv(
    read: TenantRead,
    ctx: Context,
    tenant: TenantCode,
    period: Window,
    crosshair: Crosshair = None,
    territory: Territory = None,
) -> Response:
    with read.session() as session:
        text = reads.matrix_csv(session, tenant, period, crosshair, territory, ctx.min_answers)
    name = reads.csv_name(tenant, period.start, period.end)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
