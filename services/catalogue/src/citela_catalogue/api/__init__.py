"""HTTP API of the catalogue: a tenant's territory, its entries and its events (public reads)."""

from __future__ import annotations

from fastapi import FastAPI

from citela_catalogue.api import entries, territories
from citela_catalogue.context import CatalogueContext
from citela_common.runtime import ServiceRuntime
from citela_common.web import create_service_app

TITLE = "Citéla — catalogue du territoire"
DESCRIPTION = (
    "Every public service, dataset and event of a territory, projected from the catalogue "
    "events. Reads are public, cacheable (ETag, Cache-Control) and paginated by cursor."
)


def create_app(runtime: ServiceRuntime[CatalogueContext]) -> FastAPI:
    app = create_service_app(
        "catalogue", title=TITLE, description=DESCRIPTION, checks=runtime.readiness_checks()
    )
    app.include_router(entries.router)
    app.include_router(territories.router)
    app.include_router(territories.everywhere)
    return app
