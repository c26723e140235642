"""HTTP API of the ingest service: harvest runs of a tenant and the records put aside."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from sqlalchemy.orm import Session

from citela_common.runtime import ServiceRuntime
from citela_common.tenancy import scope_to_tenant
from citela_common.web import Problem, create_service_app
from citela_common.web.pagination import Page
from citela_common.web.params import TenantCode
from citela_ingest import reads
from citela_ingest.context import IngestContext
from citela_ingest.schemas import ItemOut, RunOut

TITLE = "Citéla — collecte des données ouvertes"
DESCRIPTION = (
    "Harvests open-data feeds (Service-Public.fr, data.gouv.fr, DATAtourisme, geo.api) into "
    "catalogue events. Each run lists its records: done, skipped, invalid (with the reason and "
    "the raw input) or archived."
)


def _runtime(request: Request) -> ServiceRuntime[IngestContext]:
    runtime: ServiceRuntime[IngestContext] = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime[IngestContext], Depends(_runtime)]


def _tenant_session(runtime: Runtime, tenant: TenantCode) -> Iterator[Session]:
    with runtime.db.read() as session:  # GET: reads only, locks nothing on SQLite
        scope_to_tenant(session, tenant)
        yield session


TenantSession = Annotated[Session, Depends(_tenant_session)]


def _unknown_run(exc: reads.UnknownRun) -> Problem:
    return Problem(404, f"No harvest run {exc.args[0]!r} for this tenant.", slug="unknown-run")


router = APIRouter(prefix="/v1/tenants/{tenant}", tags=["ingest"])


@router.get("/runs", response_model=Page[RunOut], summary="Harvest runs, newest first")
def list_runs(
    session: TenantSession,
    source: Annotated[str | None, Query(max_length=50)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[RunOut]:
    return reads.runs_page(session, source, cursor, limit)


@router.get("/runs/{run_id}", response_model=RunOut, summary="One run and its counts")
def get_run(session: TenantSession, run_id: str) -> RunOut:
    try:
        return reads.run(session, run_id)
    except reads.UnknownRun as exc:
        raise _unknown_run(exc) from None


@router.get(
    "/runs/{run_id}/items",
    response_model=Page[ItemOut],
    summary="Records of a run; `status=invalid` lists those put aside, with reasons",
)
def list_items(
    session: TenantSession,
    run_id: str,
    status: Annotated[str | None, Query(pattern="^(done|skipped|invalid|archived)$")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[ItemOut]:
    try:
        return reads.items_page(session, run_id, status, cursor, limit)
    except reads.UnknownRun as exc:
        raise _unknown_run(exc) from None


def create_app(runtime: ServiceRuntime[IngestContext]) -> FastAPI:
    app = create_service_app(
        "ingest", title=TITLE, description=DESCRIPTION, checks=runtime.readiness_checks()
    )
    app.include_router(router)
    return app
