"""One service on its own (distributed mode): its API, outbox relay and consumers.

``uvicorn --factory citela_platform.standalone:catalogue`` (or ``citela serve catalogue``).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from citela_common.bus import create_bus
from citela_common.settings import Settings, get_settings
from citela_platform.registry import SERVICES


def create_app(name: str, settings: Settings | None = None, *, background: bool = True) -> FastAPI:
    settings = settings or get_settings()
    runtime = SERVICES[name](settings, create_bus(settings))
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
