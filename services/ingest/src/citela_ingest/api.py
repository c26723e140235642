"""HTTP API of the ingest service: harvest runs of a tenant and the records put aside."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Query
from pydantic import BaseModel
from sqlalchemy import and_, or_, select

from citela_common.runtime import ServiceRuntime
from citela_common.tenancy import scope_to_tenant
from citela_common.web import Problem, create_service_app
from citela_common.web.pagination import Page, decode_cursor, encode_cursor
from citela_ingest.models import HarvestItem, HarvestRun

TITLE = "Citéla — collecte des données ouvertes"
DESCRIPTION = (
    "Harvests open-data feeds (Service-Public.fr, data.gouv.fr, DATAtourisme, geo.api) into "
    "catalogue events. Each run lists its records: done, skipped, invalid (with the reason and "
    "the raw input) or archived."
)
Tenant = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]


class RunOut(BaseModel):
    id: str
    source: str
    territory_code: str | None
    status: str
    dry_run: bool
    max_items: int | None
    location: str | None
    counts: dict[str, int]
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: HarvestRun) -> RunOut:
        return cls.model_validate(run, from_attributes=True)


class ItemOut(BaseModel):
    id: int
    remote_id: str | None
    entry_id: str | None
    status: str
    outcome: str | None
    reason: str | None
    raw: str | None


def create_app(runtime: ServiceRuntime) -> FastAPI:
    app = create_service_app(
        "ingest", title=TITLE, description=DESCRIPTION, checks=runtime.readiness_checks()
    )
    router = APIRouter(prefix="/v1/tenants/{tenant}", tags=["ingest"])

    @router.get("/runs", response_model=Page[RunOut], summary="Harvest runs, newest first")
    def list_runs(
        tenant: Tenant,
        source: Annotated[str | None, Query(max_length=50)] = None,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> Page[RunOut]:
        with runtime.db.read() as session:  # GET: reads only, locks nothing on SQLite
            scope_to_tenant(session, tenant)
            stmt = select(HarvestRun)
            if source:
                stmt = stmt.where(HarvestRun.source == source)
            if cursor:
                started, run_id = decode_cursor(cursor, 2)
                started_at = datetime.fromisoformat(started)
                stmt = stmt.where(
                    or_(
                        HarvestRun.started_at < started_at,
                        and_(HarvestRun.started_at == started_at, HarvestRun.id < run_id),
                    )
                )
            runs = list(
                session.scalars(
                    stmt.order_by(HarvestRun.started_at.desc(), HarvestRun.id.desc()).limit(
                        limit + 1
                    )
                )
            )
        more = len(runs) > limit
        runs = runs[:limit]
        next_cursor = (
            encode_cursor([runs[-1].started_at.isoformat(), runs[-1].id]) if more else None
        )
        return Page[RunOut](items=[RunOut.of(r) for r in runs], next_cursor=next_cursor)

    @router.get("/runs/{run_id}", response_model=RunOut, summary="One run and its counts")
    def get_run(tenant: Tenant, run_id: str) -> RunOut:
        with runtime.db.read() as session:  # GET: reads only, locks nothing on SQLite
            scope_to_tenant(session, tenant)
            run = session.scalar(select(HarvestRun).where(HarvestRun.id == run_id))
            if run is None:
                raise Problem(
                    404, f"No harvest run {run_id!r} for this tenant.", slug="unknown-run"
                )
            return RunOut.of(run)

    @router.get(
        "/runs/{run_id}/items",
        response_model=Page[ItemOut],
        summary="Records of a run; `status=invalid` lists those put aside, with reasons",
    )
    def list_items(
        tenant: Tenant,
        run_id: str,
        status: Annotated[str | None, Query(pattern="^(done|skipped|invalid|archived)$")] = None,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> Page[ItemOut]:
        with runtime.db.read() as session:  # GET: reads only, locks nothing on SQLite
            scope_to_tenant(session, tenant)
            if session.scalar(select(HarvestRun.id).where(HarvestRun.id == run_id)) is None:
                raise Problem(
                    404, f"No harvest run {run_id!r} for this tenant.", slug="unknown-run"
                )
            stmt = select(HarvestItem).where(HarvestItem.run_id == run_id)
            if status:
                stmt = stmt.where(HarvestItem.status == status)
            if cursor:
                stmt = stmt.where(HarvestItem.id > int(decode_cursor(cursor, 1)[0]))
            items = list(session.scalars(stmt.order_by(HarvestItem.id).limit(limit + 1)))
            more = len(items) > limit
            items = items[:limit]
            return Page[ItemOut](
                items=[ItemOut.model_validate(i, from_attributes=True) for i in items],
                next_cursor=encode_cursor([items[-1].id]) if more else None,
            )

    app.include_router(router)
    return app
