"""The FastAPI app every service starts from: problems, request ids, health, readiness, metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from citela_common.metrics import render
from citela_common.readiness import NOT_READY, Readiness
from citela_common.web.middleware import ObservabilityMiddleware, TransientFaultMiddleware
from citela_common.web.problems import PROBLEM_JSON, install_problem_handlers

ReadinessCheck = Callable[[], object]

# While a dependency is down: when a client (or a load balancer) should ask again.
NOT_READY_RETRY_AFTER_S = 5
# The very first probe of a process waits this long for the checks' first answers.
FIRST_ANSWER_WAIT_S = 0.2

ops = APIRouter(tags=["ops"])
"""What ops teams ask every service: liveness, readiness and metrics."""


@ops.get("/healthz", summary="Liveness: the process answers")
async def healthz(request: Request) -> dict[str, str]:
    return {"status": "ok", "service": request.app.state.service}


@ops.get(
    "/readyz",
    summary="Readiness: the service's real dependencies answer",
    responses={503: {"description": "a dependency does not answer", "content": {PROBLEM_JSON: {}}}},
)
async def readyz(request: Request) -> JSONResponse:
    """Read from the state the probe threads, the relay and the consumers keep: never a
    network call here, so it answers in microseconds whatever is down (an async handler: no
    thread-pool slot either). 200 ``ready`` or ``degraded`` (a dependency the service can do
    without for a while is down, e.g. Kafka: the outbox holds the events), 503 otherwise."""
    readiness: Readiness = request.app.state.readiness
    readiness.start()  # idempotent; a process that never started its background
    deadline = time.monotonic() + FIRST_ANSWER_WAIT_S
    # The probes are threads, not coroutines: nothing to await but time.
    while not readiness.known() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    service = request.app.state.service
    status, checks = readiness.verdict()
    if status != NOT_READY:
        body = {"status": status, "readiness": status, "service": service, "checks": checks}
        return JSONResponse(body)
    failing = sorted(n for n, c in checks.items() if c["required"] and c["state"] != "ok")
    return JSONResponse(
        {
            "type": "https://citela.fr/problemes/not-ready",
            "title": "Service momentanément indisponible",
            "status": 503,
            "detail": f"A dependency the service needs does not answer: {', '.join(failing)}.",
            "instance": request.url.path,
            "readiness": status,
            "service": service,
            "checks": checks,
        },
        status_code=503,
        media_type=PROBLEM_JSON,
        headers={"Retry-After": str(NOT_READY_RETRY_AFTER_S)},
    )


@ops.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics() -> Response:
    body, content_type = render()
    return Response(body, media_type=content_type)


def create_service_app(
    service: str,
    *,
    title: str,
    description: str = "",
    version: str = "0.1.0",
    checks: Readiness | Mapping[str, ReadinessCheck] | None = None,
    **fastapi_kwargs: Any,
) -> FastAPI:
    """A service's app with /healthz, /readyz and /metrics; routers are added by the caller.

    ``checks``: the service's ``Readiness`` (``ServiceRuntime.readiness_checks()``), or plain
    callables, each then a required check probed on a thread of its own."""
    app = FastAPI(title=title, description=description, version=version, **fastapi_kwargs)
    app.state.service = service
    app.state.readiness = (
        checks if isinstance(checks, Readiness) else Readiness.of_callables(checks or {})
    )
    install_problem_handlers(app)
    # Inner to the metrics: a request failed by an outage counts as the 503 it answers.
    app.add_middleware(TransientFaultMiddleware)
    app.add_middleware(ObservabilityMiddleware, service=service)

    app.include_router(ops)
    return app
