"""The embedded platform: the four services' apps under one ASGI app, in one process.

One in-process bus (or Kafka, if configured) is shared by the four runtimes; their outbox
relays and consumers run on background threads started by the lifespan.
"""

from __future__ import annotations

import gc
import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount

from citela_common.bus import create_bus
from citela_common.logging import get_logger
from citela_common.readiness import Readiness
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings
from citela_common.web import create_service_app
from citela_platform.registry import LABELS, SERVICES
from citela_platform.retention import RetentionTimer
from citela_web.app import create_web_app

EMBEDDED_BASES = {name: f"/{name}" for name in SERVICES}

landing = APIRouter()
"""The platform's own pages in embedded mode: what this process serves."""


@landing.get("/plateforme", response_class=HTMLResponse, include_in_schema=False)
def landing_page(request: Request) -> HTMLResponse:
    return HTMLResponse(
        render_landing(request.app.state.settings, list(request.app.state.runtimes))
    )


@landing.get("/v1/services", tags=["platform"], summary="The services this process serves")
def services(request: Request) -> JSONResponse:
    return JSONResponse(
        [
            {
                "name": n,
                "label": LABELS[n],
                "base": f"/{n}",
                "docs": f"/{n}/docs",
                "health": f"/{n}/healthz",
                "ready": f"/{n}/readyz",
                "metrics": f"/{n}/metrics",
            }
            for n in request.app.state.runtimes
        ]
    )


log = get_logger(__name__)


def build_runtimes(settings: Settings) -> dict[str, ServiceRuntime]:
    """The four runtimes on one bus: without Kafka, the durable in-process bus, whose log and
    offsets live in ``data_dir`` (citela_common.bus.durable)."""
    bus = create_bus(settings)
    return {name: build(settings, bus) for name, build in SERVICES.items()}


def create_embedded_app(settings: Settings, *, background: bool = True) -> FastAPI:
    runtimes = build_runtimes(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        bus = next(iter(runtimes.values())).bus
        # Opened first: a second platform on the same data directory is refused here, before
        # it migrates or serves (the durable bus's file has one owner).
        bus.ensure_topics([])
        for runtime in runtimes.values():
            runtime.migrate()
        # No beat here: the retention job runs on a timer of this process.
        timer = RetentionTimer(settings, {name: rt.db for name, rt in runtimes.items()})
        if background:
            for runtime in runtimes.values():
                runtime.start_background()
            timer.start()
        log.info("platform.started", mode=settings.mode.value, services=list(runtimes))
        # What start-up allocated lives as long as the process: keep it out of every full
        # collection (they took 70-150 ms each with ~130k objects, the catalogue's p99).
        gc.freeze()
        yield
        timer.stop()
        # The relays first, all of them: nothing new enters the bus while the consumers stop.
        # Each consumer ends with the batch in hand, committed only once applied; what it had
        # not applied stays in the durable log, for the next start. The bus closes last.
        for runtime in runtimes.values():
            runtime.relay.stop()
        for runtime in runtimes.values():
            runtime.stop_background()
        bus.close()
        for runtime in runtimes.values():
            runtime.db.dispose()

    # Ready when each service is; each check named ``<service>.<check>``.
    checks = Readiness.combine({name: rt.readiness_checks() for name, rt in runtimes.items()})
    root = create_service_app(
        "platform",
        title="Citéla",
        description="Plateforme Citéla — mode intégré : les quatre services dans un processus.",
        checks=checks,
        lifespan=lifespan,
    )
    root.state.runtimes = runtimes
    root.state.settings = settings

    root.include_router(landing)

    for name, runtime in runtimes.items():
        root.router.routes.append(Mount(f"/{name}", app=runtime.create_app(), name=name))
    # The portal and the dashboard answer every other path; they reach the four APIs above
    # through this very app (an ASGI transport: same process, no socket).
    web_app = create_web_app(
        settings, transport=httpx.ASGITransport(app=root), bases=EMBEDDED_BASES
    )
    root.router.routes.append(Mount("", app=web_app, name="web"))
    return root


def render_landing(settings: Settings, names: list[str]) -> str:
    rows = "\n".join(
        f"""      <li><h2>{html.escape(LABELS[n])}</h2>
        <p><code>/{n}</code> — <a href="/{n}/docs">API (OpenAPI)</a> ·
        <a href="/{n}/healthz">santé</a> · <a href="/{n}/readyz">disponibilité</a> ·
        <a href="/{n}/metrics">métriques</a></p></li>"""
        for n in names
    )
    mode = "intégré" if settings.mode.value == "embedded" else "distribué"
    return f"""<!doctype html>
<html lang="fr">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Citéla — plateforme des services publics du territoire</title>
  <style>
    body {{ font-family: system-ui, sans-serif; margin: 0 auto; max-width: 48rem;
           padding: 1rem; color: #161616; line-height: 1.5; }}
    h1 {{ color: #000091; }} a {{ color: #000091; }}
    ul {{ list-style: none; padding: 0; }} li {{ border-bottom: 1px solid #ddd; }}
    h2 {{ font-size: 1.15rem; margin-bottom: .2rem; }}
  </style>
</head>
<body>
  <main>
    <h1>Citéla</h1>
    <p>Plateforme ouverte des collectivités : catalogue des services publics du territoire,
    avis des usagers et synthèse pour décider. Mode <strong>{mode}</strong>.</p>
    <ul>
{rows}
    </ul>
    <p><a href="/">Portail citoyen</a></p>
    <p><a href="/healthz">Santé de la plateforme</a> · <a href="/readyz">Disponibilité</a> ·
    <a href="/metrics">Métriques Prometheus</a></p>
  </main>
</body>
</html>
"""
