"""HTTP API of the analytics service."""

from __future__ import annotations

from fastapi import FastAPI

from citela_common.runtime import ServiceRuntime
from citela_common.web import create_service_app

TITLE = "Citéla — synthèse et priorités"
DESCRIPTION = (
    "Sentiment of comments, the importance × satisfaction matrix and the "
    "priorities of each authority."
)


def create_app(runtime: ServiceRuntime) -> FastAPI:
    app = create_service_app(
        "analytics", title=TITLE, description=DESCRIPTION, checks=runtime.readiness_checks()
    )
    return app
