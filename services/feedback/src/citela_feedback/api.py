"""HTTP API of the feedback service."""

from __future__ import annotations

from fastapi import FastAPI

from citela_common.runtime import ServiceRuntime
from citela_common.web import create_service_app

TITLE = "Citéla — avis des usagers"
DESCRIPTION = (
    "Citizens' and partner apps' feedback (satisfaction, importance, comment) on public services."
)


def create_app(runtime: ServiceRuntime) -> FastAPI:
    app = create_service_app(
        "feedback", title=TITLE, description=DESCRIPTION, checks=runtime.readiness_checks()
    )
    return app
