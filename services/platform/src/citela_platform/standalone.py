"""One service on its own (distributed mode): its API, outbox relay and consumers.

``uvicorn --factory citela_platform.standalone:catalogue`` (or ``citela serve catalogue``).

A worker process of ``citela serve --workers N`` imports this module and one service: each
factory imports its own service only (not the registry of the four), so a worker starts fast.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import import_module

from fastapi import FastAPI

from citela_common.bus import create_bus
from citela_common.logging import configure_logging
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings, get_settings

# The module of each service's ``build_runtime`` (citela_platform.registry has them all).
SERVICE_MODULES = {
    "ingest": "citela_ingest.service",
    "catalogue": "citela_catalogue.service",
    "feedback": "citela_feedback.service",
    "analytics": "citela_analytics.service",
}


def build_runtime(name: str, settings: Settings) -> ServiceRuntime:
    runtime: ServiceRuntime = import_module(SERVICE_MODULES[name]).build_runtime(
        settings, create_bus(settings)
    )
    return runtime


def create_app(name: str, settings: Settings | None = None, *, background: bool = True) -> FastAPI:
    settings = settings or get_settings()
    if not logging.getLogger().handlers:  # a worker spawned by uvicorn: nothing did it
        configure_logging(settings.log_level, settings.log_json)
    runtime = build_runtime(name, settings)
    app = runtime.create_app()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.migrate()
        if background:
            runtime.start_background()
        gc.freeze()  # start-up objects stay for good: keep them out of full collections
        yield
        runtime.stop_background()
        runtime.bus.close()
        runtime.db.dispose()

    app.router.lifespan_context = lifespan
    return app


def ingest() -> FastAPI:
    return create_app("ingest")


def catalogue() -> FastAPI:
    return create_app("catalogue")


def feedback() -> FastAPI:
    return create_app("feedback")


def analytics() -> FastAPI:
    return create_app("analytics")


def web() -> FastAPI:
    """The portal and the dashboard, calling the services at their `CITELA_WEB_*_URL`."""
    from citela_web.app import create_web_app

    return create_web_app(get_settings())
