"""HTTP API of the ingest service."""

from __future__ import annotations

from fastapi import FastAPI

from citela_common.runtime import ServiceRuntime
from citela_common.web import create_service_app

TITLE = "Citéla — collecte des données ouvertes"
DESCRIPTION = (
    "Harvests open-data feeds (Service-Public.fr, data.gouv.fr, "
    "DATAtourisme, geo.api) into catalogue events."
)


def create_app(runtime: ServiceRuntime) -> FastAPI:
    app = create_service_app(
        "ingest", title=TITLE, description=DESCRIPTION, checks=runtime.readiness_checks()
    )
    return app
