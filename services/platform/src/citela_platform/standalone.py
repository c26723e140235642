"""One service on its own (distributed mode): its API, outbox relay and consumers.

``uvicorn --factory citela_platform.standalone:catalogue`` (or ``citela serve catalogue``).

A worker process of ``citela serve --workers N`` imports this module and one service: each
factory imports its own service only (not the registry of the four), so a worker starts fast.
"""

from __future__ import annotations

from fastapi import FastAPI

from citela_common import serving
from citela_common.bus import create_bus
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings, get_settings
from citela_platform.services import builder


def build_runtime(name: str, settings: Settings) -> ServiceRuntime:
    runtime: ServiceRuntime = builder(name)(settings, create_bus(settings))
    return runtime


def create_app(name: str, settings: Settings | None = None, *, background: bool = True) -> FastAPI:
    """The app of service ``name``, as its own ``python -m citela_<name>`` builds it."""
    return serving.create_app(builder(name), settings, background=background)


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
