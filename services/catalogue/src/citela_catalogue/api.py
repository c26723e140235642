"""HTTP API of the catalogue service."""

from __future__ import annotations

from fastapi import FastAPI

from citela_common.runtime import ServiceRuntime
from citela_common.web import create_service_app

TITLE = "Citéla — catalogue du territoire"
DESCRIPTION = (
    "Every public service, dataset and event of a territory, projected from the catalogue events."
)


def create_app(runtime: ServiceRuntime) -> FastAPI:
    app = create_service_app(
        "catalogue", title=TITLE, description=DESCRIPTION, checks=runtime.readiness_checks()
    )
    return app
