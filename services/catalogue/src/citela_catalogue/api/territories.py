"""``/v1/tenants/{tenant}/territories``: a tenant's communes; ``/v1/territories``: everyone's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from citela_catalogue import reads
from citela_catalogue.api.deps import Context, TenantRead
from citela_catalogue.schemas import CommuneMatch, TerritoryHit, TerritoryOut
from citela_common.web.conditional import conditional_json

router = APIRouter(prefix="/v1/tenants/{tenant}", tags=["catalogue"])
everywhere = APIRouter(tags=["catalogue"])


@router.get(
    "/territories",
    response_model=list[CommuneMatch],
    summary="Find a commune by name or postal code",
)
def find_communes(
    read: TenantRead,
    q: Annotated[str, Query(min_length=2, max_length=100)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> Response:
    return read(lambda session: reads.communes(session, q, limit))


@router.get(
    "/territories/{code}",
    response_model=TerritoryOut,
    summary="A territory with its parents and children",
)
def get_territory(read: TenantRead, code: str) -> Response:
    return read(lambda session: reads.territory(session, code))


@everywhere.get(
    "/v1/territories",
    response_model=list[TerritoryHit],
    summary="Find a commune by name or postal code in every tenant's catalogue",
    description="One hit per tenant whose catalogue holds the commune (a commune belongs to "
    "its own commune's catalogue and to its EPCI's, for instance).",
)
def find_communes_everywhere(
    request: Request,
    context: Context,
    q: Annotated[str, Query(min_length=2, max_length=100)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    with context.reading() as session:  # unscoped: public rows of every tenant
        body = reads.communes_everywhere(session, q, limit)
    return conditional_json(request, body)
