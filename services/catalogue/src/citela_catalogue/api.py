"""HTTP API of the catalogue: a tenant's territory, its entries and its events (public reads)."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.background import BackgroundTask

from citela_catalogue import queries
from citela_catalogue.schemas import (
    CommuneMatch,
    EntryOut,
    TerritoryHit,
    TerritoryOut,
    TerritoryRef,
)
from citela_common.cache import Cache
from citela_common.db import Database
from citela_common.events.models import EntryKind
from citela_common.runtime import ServiceRuntime
from citela_common.tenancy import scope_to_tenant
from citela_common.web import Problem, create_service_app, field_error
from citela_common.web.conditional import conditional_json
from citela_common.web.pagination import Page

TITLE = "Citéla — catalogue du territoire"
DESCRIPTION = (
    "Every public service, dataset and event of a territory, projected from the catalogue "
    "events. Reads are public, cacheable (ETag, Cache-Control) and paginated by cursor."
)
Tenant = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="code of the tenant (collectivité)")
]
Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]
LIST_TTL_S = 300


def _point(value: str | None) -> tuple[float, float] | None:
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


def _reads(db: Database) -> Callable[[], AbstractContextManager[Session]]:
    """Sessions for the GET routes. SQLite: ``db.read()`` (deferred, locks nothing).
    PostgreSQL: autocommit, each statement its own snapshot: a listing is mostly one
    statement, and BEGIN and COMMIT were two more round trips to PostgreSQL per request."""
    if db.is_sqlite:
        return db.read
    return sessionmaker(
        db.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )


def create_app(runtime: ServiceRuntime) -> FastAPI:
    app = create_service_app(
        "catalogue", title=TITLE, description=DESCRIPTION, checks=runtime.readiness_checks()
    )
    cache: Cache = runtime.extras["cache"]
    reading = _reads(runtime.db)
    router = APIRouter(prefix="/v1/tenants/{tenant}", tags=["catalogue"])

    def cached(request: Request, tenant: str, build: Callable[[Session], Any]) -> Response:
        generation = cache.generation(tenant)
        key = f"{tenant}:{generation}:{request.url.path}?{request.url.query}"
        body = cache.get(key)
        store: BackgroundTask | None = None
        if body is None:
            with reading() as session:
                scope_to_tenant(session, tenant)
                queries.read_at_generation(session, generation)
                try:
                    result = build(session)
                except queries.UnknownTerritory as exc:
                    raise Problem(
                        404,
                        f"Territory {exc.args[0]!r} is not part of this tenant's catalogue.",
                        slug="unknown-territory",
                        errors=[field_error("territory", "unknown territory code")],
                    ) from None
            if isinstance(result, bytes):  # already JSON (pydantic's serializer, in Rust)
                body = result
            else:
                body = json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode()
            # Stored once the answer is sent: the client does not wait for Redis to take it.
            store = BackgroundTask(cache.set, key, body, LIST_TTL_S)
        response = conditional_json(request, body)
        response.background = store
        return response

    @router.get(
        "/entries",
        response_model=Page[EntryOut],
        summary="Entries of the tenant's catalogue, filtered and searched",
    )
    def list_entries(
        request: Request,
        tenant: Tenant,
        territory: Annotated[
            str | None,
            Query(description="commune INSEE code, EPCI SIREN, département or région code"),
        ] = None,
        kind: EntryKind | None = None,
        policy_area: Annotated[str | None, Query(max_length=100)] = None,
        q: Annotated[
            str | None, Query(max_length=200, description="French full-text query")
        ] = None,
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
            near=_point(near),
            radius_km=radius_km,
        )

        def build(session: Session) -> Any:
            return queries.entries_page(session, f, cursor, limit)

        return cached(request, tenant, build)

    @router.get("/entries/{entry_id:path}", response_model=EntryOut, summary="One entry")
    def get_entry(request: Request, tenant: Tenant, entry_id: str) -> Response:
        def build(session: Session) -> Any:
            from sqlalchemy import select

            from citela_catalogue.models import Entry

            entry = session.scalar(
                select(Entry).where(Entry.entry_id == entry_id, Entry.removed_at.is_(None))
            )
            if entry is None:
                raise Problem(
                    404, f"No catalogue entry {entry_id!r} for this tenant.", slug="unknown-entry"
                )
            return EntryOut.of(entry).model_dump(mode="json")

        return cached(request, tenant, build)

    @router.get(
        "/events",
        response_model=Page[EntryOut],
        summary="Events with at least one date between `from` and `to`",
    )
    def list_events(
        request: Request,
        tenant: Tenant,
        start: Annotated[date, Query(alias="from")],
        end: Annotated[date, Query(alias="to")],
        territory: str | None = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Response:
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

        def build(session: Session) -> Any:
            found, next_cursor = queries.events_between(
                session, territory, start, end, cursor, limit
            )
            return Page[EntryOut](
                items=[EntryOut.of(e, next_date=d) for e, d in found], next_cursor=next_cursor
            ).model_dump(mode="json")

        return cached(request, tenant, build)

    @router.get(
        "/territories",
        response_model=list[CommuneMatch],
        summary="Find a commune by name or postal code",
    )
    def find_communes(
        request: Request,
        tenant: Tenant,
        q: Annotated[str, Query(min_length=2, max_length=100)],
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
    ) -> Response:
        def build(session: Session) -> Any:
            return [
                CommuneMatch(
                    code=r.code,
                    level=r.level,
                    name=r.name,
                    postal_codes=r.postal_codes,
                    departement_code=r.departement_code,
                    epci_code=r.epci_code,
                ).model_dump(mode="json")
                for r in queries.search_territories(session, q, limit)
            ]

        return cached(request, tenant, build)

    @router.get(
        "/territories/{code}",
        response_model=TerritoryOut,
        summary="A territory with its parents and children",
    )
    def get_territory(request: Request, tenant: Tenant, code: str) -> Response:
        def build(session: Session) -> Any:
            rows = queries.territory_rows(session, code)
            if not rows:
                raise queries.UnknownTerritory(code)
            row = rows[0]
            return TerritoryOut.full(
                row, queries.parents_of(session, row), queries.children_of(session, row)
            ).model_dump(mode="json")

        return cached(request, tenant, build)

    @router.get(
        "/policy-areas", response_model=dict[str, int], summary="Number of entries per policy area"
    )
    def policy_areas(request: Request, tenant: Tenant, territory: str | None = None) -> Response:
        return cached(
            request, tenant, lambda session: queries.policy_area_counts(session, territory)
        )

    app.include_router(router)

    @app.get(
        "/v1/territories",
        response_model=list[TerritoryHit],
        tags=["catalogue"],
        summary="Find a commune by name or postal code in every tenant's catalogue",
        description="One hit per tenant whose catalogue holds the commune (a commune belongs to "
        "its own commune's catalogue and to its EPCI's, for instance).",
    )
    def find_communes_everywhere(
        request: Request,
        q: Annotated[str, Query(min_length=2, max_length=100)],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Response:
        with reading() as session:  # unscoped: public rows of every tenant
            hits = [
                TerritoryHit(
                    tenant=r.tenant_id,
                    code=r.code,
                    level=r.level,
                    name=r.name,
                    postal_codes=r.postal_codes,
                    departement_code=r.departement_code,
                    epci_code=r.epci_code,
                    region_code=r.region_code,
                ).model_dump(mode="json")
                for r in queries.search_territories(session, q, limit)
            ]
        body = json.dumps(hits, ensure_ascii=False, separators=(",", ":")).encode()
        return conditional_json(request, body)

    _ = TerritoryRef  # re-exported in the OpenAPI through TerritoryOut
    return app
