"""One service on its own (distributed mode): its API, outbox relay and consumers in a process.

Each service package has a ``__main__`` that hands this module its name, its uvicorn factory
and its ``build_runtime``: ``python -m citela_catalogue --host 0.0.0.0 --port 8000``. That is
what the service's image runs, with no other service installed beside it
(``citela serve <service>`` of the platform package does the same from the whole platform).

``--workers N``: uvicorn's supervisor starts each worker with multiprocessing's *spawn*, which
imports the main module again: a service's ``__main__`` imports this module and its service
only, so a worker starts fast; the supervisor gives it ``--healthcheck-timeout`` seconds (60
by default, uvicorn's 5 is shorter than a cold start on a busy host) before it calls it hung.
"""

from __future__ import annotations

import argparse
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from citela_common.bus import EventBus, create_bus
from citela_common.logging import configure_logging
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings, get_settings

Builder = Callable[[Settings, EventBus], ServiceRuntime[Any]]

# Seconds a worker may take to start, or to answer a health check once it runs, before the
# supervisor kills and replaces it.
HEALTHCHECK_TIMEOUT_S = 60


def create_app(
    build: Builder, settings: Settings | None = None, *, background: bool = True
) -> FastAPI:
    """The service's app; its lifespan migrates, starts and stops the relay and consumers."""
    settings = settings or get_settings()
    if not logging.getLogger().handlers:  # a worker spawned by uvicorn: nothing did it
        configure_logging(settings.log_level, settings.log_json)
    runtime = build(settings, create_bus(settings))
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


def migrate(build: Builder, settings: Settings) -> None:
    """Create or upgrade the service's schema."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    runtime = build(settings, create_bus(settings))
    try:
        runtime.migrate()
    finally:
        runtime.db.dispose()
        runtime.bus.close()


def run(
    factory: str, host: str, port: int, workers: int = 1, healthcheck_timeout_s: int = 60
) -> None:
    """Serve the app of ``factory`` (``"module:function"``, a function returning the app)."""
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_worker_healthcheck=healthcheck_timeout_s,
    )


def main(service: str, factory: str, build: Builder | None, argv: list[str] | None = None) -> None:
    """``python -m citela_<service> [serve] [--host H] [--port P] [--workers N]`` or
    ``python -m citela_<service> migrate``. ``build`` is None for the web (it owns no tables)."""
    parser = argparse.ArgumentParser(prog=f"python -m citela_{service}")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    parser.add_argument("--host", help="interface (default CITELA_HOST)")
    parser.add_argument("--port", type=int, help="port (default CITELA_PORT)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--healthcheck-timeout",
        type=int,
        default=HEALTHCHECK_TIMEOUT_S,
        help="seconds a worker may take to start or answer before it is replaced",
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    if build is not None:
        # Migrate once here: worker processes starting together would race on the schema.
        migrate(build, settings)
    if args.command == "migrate":
        return
    run(
        factory,
        args.host or settings.host,
        args.port or settings.port,
        args.workers,
        args.healthcheck_timeout,
    )
