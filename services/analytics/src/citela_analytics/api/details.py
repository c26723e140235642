"""One service, one policy area: its figures and what its comments say."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response

from citela_analytics import reads
from citela_analytics.api.deps import Context, Crosshair, TenantRead, Window, tenant_router
from citela_analytics.schemas import DetailOut
from citela_common.web.params import TenantCode

router = tenant_router()


@router.get(
    "/services/{entry_id:path}",
    response_model=DetailOut,
    summary="One service: its figures, and what its comments say",
    description="The service's point of the matrix, the sentiment distribution of its "
    "comments, the recurring themes of its negative and of its positive comments, and a "
    "few representative quotes (redacted text, as published).",
)
def get_service(
    read: TenantRead,
    ctx: Context,
    tenant: TenantCode,
    entry_id: str,
    period: Window,
    crosshair: Crosshair = None,
) -> Response:
    return read.cached(
        lambda session, generation: reads.service_detail(
            ctx.reads, session, tenant, generation, period, entry_id, crosshair
        )
    )


@router.get(
    "/areas/{policy_area}",
    response_model=DetailOut,
    summary="One policy area: its figures, its services, and what their comments say",
)
def get_area(
    read: TenantRead,
    ctx: Context,
    tenant: TenantCode,
    policy_area: Annotated[str, Path(max_length=100)],
    period: Window,
    crosshair: Crosshair = None,
) -> Response:
    return read.cached(
        lambda session, generation: reads.area_detail(
            ctx.reads, session, tenant, generation, period, policy_area, crosshair
        )
    )
