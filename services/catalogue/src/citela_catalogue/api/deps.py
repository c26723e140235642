"""What the catalogue's routes depend on: its context, and the cached read of a tenant's data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request, Response
from sqlalchemy.orm import Session

from citela_catalogue import queries
from citela_catalogue.context import CatalogueContext
from citela_catalogue.reads import UnknownEntry
from citela_common.runtime import ServiceRuntime
from citela_common.tenancy import scope_to_tenant
from citela_common.web import Problem, field_error
from citela_common.web.conditional import read_through
from citela_common.web.params import TenantCode


def _context(request: Request) -> CatalogueContext:
    runtime: ServiceRuntime[CatalogueContext] = request.app.state.runtime
    return runtime.context


Context = Annotated[CatalogueContext, Depends(_context)]
Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]


@dataclass(frozen=True)
class TenantReader:
    """Answers a GET of a tenant's catalogue with a body built from the tenant's rows."""

    request: Request
    context: CatalogueContext
    tenant: str

    def __call__(self, build: Callable[[Session], bytes]) -> Response:
        """``build``'s body, from the cache while the tenant's data is unchanged. On a miss,
        ``build`` runs in a read session scoped to the tenant, at the cache generation the
        body will be stored under."""
        return read_through(
            self.request,
            self.context.cache,
            self.tenant,
            self._built(build),
            ttl_s=self.context.list_ttl_s,
        )

    def _built(self, build: Callable[[Session], bytes]) -> Callable[[int], bytes]:
        def body(generation: int) -> bytes:
            with self.context.reading() as session:
                scope_to_tenant(session, self.tenant)
                queries.read_at_generation(session, generation)
                try:
                    return build(session)
                except queries.UnknownTerritory as exc:
                    raise Problem(
                        404,
                        f"Territory {exc.args[0]!r} is not part of this tenant's catalogue.",
                        slug="unknown-territory",
                        errors=[field_error("territory", "unknown territory code")],
                    ) from None
                except UnknownEntry as exc:
                    raise Problem(
                        404,
                        f"No catalogue entry {exc.args[0]!r} for this tenant.",
                        slug="unknown-entry",
                    ) from None

        return body


def _reader(request: Request, context: Context, tenant: TenantCode) -> TenantReader:
    return TenantReader(request, context, tenant)


TenantRead = Annotated[TenantReader, Depends(_reader)]
