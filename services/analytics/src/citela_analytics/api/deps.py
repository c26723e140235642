"""What the analytics routers share: the runtime and its context, who calls (``Annotated``
aliases), the period of a request, and the cached read of a tenant's synthesis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from citela_analytics.context import AnalyticsContext
from citela_analytics.domain.matrix import CrosshairMode
from citela_analytics.queries import Period
from citela_analytics.reads import UnknownArea, UnknownReport, UnknownService
from citela_common.auth import (
    ApiKeyCredentials,
    BearerCredentials,
    Permission,
    Principal,
    forbidden,
    unauthenticated,
)
from citela_common.runtime import ServiceRuntime
from citela_common.tenancy import scope_to_tenant
from citela_common.web import Problem, field_error
from citela_common.web.conditional import read_through
from citela_common.web.params import TenantCode
from citela_common.web.problems import PROBLEM_JSON

CACHE_TTL_S = 300  # a body stays at most this long (a new generation replaces it sooner)

AnalyticsRuntime = ServiceRuntime[AnalyticsContext]

# The dependencies below only read the request and the runtime (a token's check is a few
# microseconds of CPU): async, so a read makes no thread-pool hop for each of them.


async def runtime(request: Request) -> AnalyticsRuntime:
    """The runtime the app was built for (``ServiceRuntime.create_app``)."""
    found: AnalyticsRuntime = request.app.state.runtime
    return found


Runtime = Annotated[AnalyticsRuntime, Depends(runtime)]


async def context(found: Runtime) -> AnalyticsContext:
    return found.context


Context = Annotated[AnalyticsContext, Depends(context)]


async def principal(
    request: Request,
    ctx: Context,
    bearer: BearerCredentials = None,
    api_key: ApiKeyCredentials = None,
) -> Principal:
    """Whoever the credentials name (401 without any, or when refused), once per request."""
    found: Principal | None = getattr(request.state, "principal", None)
    if found is None:
        found = ctx.auth.authenticate(request, bearer.credentials if bearer else None, api_key)
        request.state.principal = found
    if found is None:
        raise unauthenticated()
    return found


def _holding(request: Request, who: Principal, permission: Permission) -> Principal:
    tenant = str(request.path_params.get("tenant", ""))
    if not who.can(tenant, permission):
        raise forbidden(f"`{permission.value}` on tenant {tenant!r} is required.")
    return who


async def reader(request: Request, who: Annotated[Principal, Depends(principal)]) -> Principal:
    """``analytics:read`` on the path's tenant (roles admin, analyst)."""
    return _holding(request, who, Permission.ANALYTICS_READ)


async def admin(request: Request, who: Annotated[Principal, Depends(principal)]) -> Principal:
    """``tenant:admin`` on the path's tenant."""
    return _holding(request, who, Permission.TENANT_ADMIN)


Reader = Annotated[Principal, Depends(reader)]
Admin = Annotated[Principal, Depends(admin)]

Start = Annotated[
    date | None, Query(alias="from", description="first local day of the period (included)")
]
End = Annotated[date | None, Query(alias="to", description="last local day of the period")]
Crosshair = Annotated[
    CrosshairMode | None,
    Query(description="override the tenant's crosshair setting for this request"),
]
Territory = Annotated[
    str | None,
    Query(
        max_length=20,
        description="only services located in this commune, EPCI or département (INSEE/SIREN)",
    ),
]


def period_of(start: date | None, end: date | None) -> Period:
    if start is not None and end is not None and end < start:
        raise Problem(
            422,
            "`to` is before `from`.",
            slug="validation",
            errors=[field_error("query.to", "must not be before `from`", "range")],
        )
    return Period(start, end)


async def period(start: Start = None, end: End = None) -> Period:
    """The request's period of local days (``from``, ``to``)."""
    return period_of(start, end)


Window = Annotated[Period, Depends(period)]

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in (
        (401, "no valid access token"),
        (403, "the token has no analytics access to this tenant"),
        (404, "unknown service, area or report"),
        (422, "invalid parameter"),
    )
}


def tenant_router() -> APIRouter:
    """A router of routes under ``/v1/tenants/{tenant}``, each for ``analytics:read``."""
    return APIRouter(
        prefix="/v1/tenants/{tenant}",
        tags=["synthesis"],
        dependencies=[Depends(reader)],
        responses=PROBLEMS,
    )


@contextmanager
def not_found() -> Iterator[None]:
    """A lookup that found nothing, as the 404 problem the API documents."""
    try:
        yield
    except UnknownService as exc:
        raise Problem(
            404,
            f"No service {exc.args[0]!r} in this tenant's catalogue or answers.",
            slug="unknown-service",
        ) from None
    except UnknownArea as exc:
        raise Problem(
            404, f"No answers on policy area {exc.args[0]!r} in the period.", slug="unknown-area"
        ) from None
    except UnknownReport as exc:
        raise Problem(
            404, f"No report {exc.args[0]!r} for this tenant.", slug="unknown-report"
        ) from None


@dataclass(frozen=True)
class TenantReader:
    """Reads of one tenant's synthesis: cached JSON bodies, or a plain read session."""

    request: Request
    runtime: AnalyticsRuntime
    tenant: str

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read-only unit of work scoped to the tenant (on SQLite it waits for no writer)."""
        with self.runtime.db.read() as session, not_found():
            yield scope_to_tenant(session, self.tenant)

    def cached(self, build: Callable[[Session, int], BaseModel]) -> Response:
        """``build``'s body, from the cache while the tenant's data is unchanged; on a miss
        ``build`` runs in a read session, at the cache generation it will be stored under."""

        def body(generation: int) -> bytes:
            with self.session() as session:
                return build(session, generation).model_dump_json(by_alias=True).encode()

        return read_through(
            self.request,
            self.runtime.context.cache,
            self.tenant,
            body,
            ttl_s=CACHE_TTL_S,
            max_age=0,
            public=False,
        )


async def tenant_reader(request: Request, found: Runtime, tenant: TenantCode) -> TenantReader:
    return TenantReader(request, found, tenant)


TenantRead = Annotated[TenantReader, Depends(tenant_reader)]
