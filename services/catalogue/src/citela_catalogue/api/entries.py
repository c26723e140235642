"""``/v1/tenants/{tenant}/entries``, ``/events`` and ``/policy-areas``: the catalogue's entries."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from citela_catalogue import queries, reads
from citela_catalogue.api.deps import Cursor, Limit, TenantRead
from citela_catalogue.schemas import EntryOut
from citela_common.events.models import EntryKind
from citela_common.web import Problem, field_error
from citela_common.web.pagination import Page

router = APIRouter(prefix="/v1/tenants/{tenant}", tags=["catalogue"])


def near_point(value: str | None) -> tuple[float, float] | None:
    """``near=lat,lon`` as a point; 422 when it is not one."""
    if value is None:
        return None
    try:
        lat, lon = (float(v) for v in value.split(","))
    except ValueError:
        raise Problem(
            422,
            "`near` must be 'lat,lon' in decimal degrees.",
            slug="validation",
            errors=[
                field_error("query.near", "expected 'lat,lon', e.g. 43.2951,-0.3708", "format")
            ],
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Problem(
            422,
            "`near` is outside the globe.",
            slug="validation",
            errors=[field_error("query.near", "latitude or longitude out of range", "range")],
        )
    return lat, lon


def check_window(start: date, end: date) -> None:
    """422 unless ``[start, end]`` is a window of at most a year."""
    if end < start:
        raise Problem(
            422,
            "`to` is before `from`.",
            slug="validation",
            errors=[field_error("query.to", "must not be before `from`", "range")],
        )
    if (end - start).days > 366:
        raise Problem(
            422,
            "The window is longer than a year.",
            slug="validation",
            errors=[field_error("query.to", "at most 366 days after `from`", "range")],
        )


@router.get(
    "/entries",
    response_model=Page[EntryOut],
    summary="Entries of the tenant's catalogue, filtered and searched",
)
def list_entries(
    read: TenantRead,
    territory: Annotated[
        str | None,
        Query(description="commune INSEE code, EPCI SIREN, département or région code"),
    ] = None,
    kind: EntryKind | None = None,
    policy_area: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=200, description="French full-text query")] = None,
    near: Annotated[str | None, Query(description="lat,lon")] = None,
    radius_km: Annotated[float, Query(gt=0, le=100)] = 5.0,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Response:
    f = queries.EntryFilter(
        territory=territory,
        kind=kind.value if kind else None,
        policy_area=policy_area,
        q=q,
        near=near_point(near),
        radius_km=radius_km,
    )
    return read(lambda session: queries.entries_page(session, f, cursor, limit))


@router.get("/entries/{entry_id:path}", response_model=EntryOut, summary="One entry")
def get_entry(read: TenantRead, entry_id: str) -> Response:
    return read(lambda session: reads.entry(session, entry_id))


@router.get(
    "/events",
    response_model=Page[EntryOut],
    summary="Events with at least one date between `from` and `to`",
)
def list_events(
    read: TenantRead,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
    territory: str | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Response:
    check_window(start, end)
    return read(lambda session: queries.events_page(session, territory, start, end, cursor, limit))


@router.get(
    "/policy-areas", response_model=dict[str, int], summary="Number of entries per policy area"
)
def policy_areas(read: TenantRead, territory: str | None = None) -> Response:
    return read(lambda session: reads.policy_areas(session, territory))
