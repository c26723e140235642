"""A tenant's matrix settings, and what its admins may ask for: a recomputation, a snapshot."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query

from citela_analytics import actions, jobs, reads
from citela_analytics.api.deps import Admin, Context, Runtime, TenantRead, admin, tenant_router
from citela_analytics.schemas import RecomputeOut, TenantSettingsIn, TenantSettingsOut
from citela_common.auth import UserPrincipal
from citela_common.web.params import TenantCode

router = tenant_router()


@router.get("/settings", response_model=TenantSettingsOut, summary="The tenant's matrix settings")
def get_settings(read: TenantRead, ctx: Context, tenant: TenantCode) -> TenantSettingsOut:
    with read.session() as session:
        return reads.tenant_settings(session, tenant, ctx.min_answers)


@router.put(
    "/settings",
    response_model=TenantSettingsOut,
    summary="Change the tenant's matrix settings (tenant admins)",
)
def put_settings(
    runtime: Runtime,
    tenant: TenantCode,
    body: TenantSettingsIn,
    principal: Admin,
) -> TenantSettingsOut:
    return actions.change_settings(
        runtime.context,
        runtime.db,
        tenant,
        body.crosshair_mode,
        body.min_answers,
        principal.account_id if isinstance(principal, UserPrincipal) else None,
    )


@router.post(
    "/recompute",
    response_model=RecomputeOut,
    summary="Recompute the matrix exactly from the facts (tenant admins)",
    description="Rebuilds the running sums from the stored facts and reports how many "
    "cells had drifted from the incremental maintenance (0 is expected).",
    dependencies=[Depends(admin)],
)
def post_recompute(runtime: Runtime, tenant: TenantCode) -> RecomputeOut:
    (done,) = jobs.recompute(runtime, tenant)
    return RecomputeOut(
        tenant=tenant,
        answers=done["answers"],
        cells=done["cells"],
        drifted_cells=done["drifted_cells"],
        duration_s=done["duration_s"],
    )


@router.post(
    "/snapshots",
    summary="Take (again) the snapshot of one week now (tenant admins)",
    dependencies=[Depends(admin)],
)
def post_snapshot(
    runtime: Runtime,
    tenant: TenantCode,
    week: Annotated[
        date | None, Query(description="any day of the week; default: last full week")
    ] = None,
) -> dict[str, Any]:
    (taken,) = jobs.snapshot(runtime, tenant, week.isoformat() if week else None)
    return taken
