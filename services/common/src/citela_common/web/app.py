"""The FastAPI app every service starts from: problems, request ids, health, readiness, metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from citela_common.metrics import render
from citela_common.web.middleware import ObservabilityMiddleware
from citela_common.web.problems import PROBLEM_JSON, install_problem_handlers

ReadinessCheck = Callable[[], bool]

ops = APIRouter(tags=["ops"])
"""What ops teams ask every service: liveness, readiness and metrics."""


@ops.get("/healthz", summary="Liveness: the process answers")
def healthz(request: Request) -> dict[str, str]:
    return {"status": "ok", "service": request.app.state.service}


@ops.get(
    "/readyz",
    summary="Readiness: the service's real dependencies answer",
    responses={503: {"description": "a dependency does not answer", "content": {PROBLEM_JSON: {}}}},
)
def readyz(request: Request) -> JSONResponse:
    service = request.app.state.service
    results: dict[str, str] = {}
    for name, check in request.app.state.readiness_checks.items():
        try:
            results[name] = "ok" if check() else "failing"
        except Exception as exc:
            results[name] = f"failing: {exc!r}"[:200]
    if all(v == "ok" for v in results.values()):
        return JSONResponse({"status": "ready", "service": service, "checks": results})
    return JSONResponse(
        {
            "type": "https://citela.fr/problemes/not-ready",
            "title": "Service momentanément indisponible",
            "status": 503,
            "detail": "A dependency of the service does not answer.",
            "instance": request.url.path,
            "checks": results,
        },
        status_code=503,
        media_type=PROBLEM_JSON,
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
    checks: Mapping[str, ReadinessCheck] | None = None,
    **fastapi_kwargs: Any,
) -> FastAPI:
    """A service's app with /healthz, /readyz and /metrics; routers are added by the caller."""
    app = FastAPI(title=title, description=description, version=version, **fastapi_kwargs)
    app.state.service = service
    app.state.readiness_checks = dict(checks or {})
    install_problem_handlers(app)
    app.add_middleware(ObservabilityMiddleware, service=service)

    app.include_router(ops)
    return app
