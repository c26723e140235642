"""RFC 9457 problem details for every error, 422 included.

``title`` is French (shown to citizens and officials); ``detail`` and each field's ``reason``
are English (read by partner developers); ``errors`` names each faulty field.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from citela_common.faults import is_transient
from citela_common.logging import get_logger

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://citela.fr/problemes/"

log = get_logger(__name__)

FRENCH_TITLES: dict[int, str] = {
    400: "Requête incorrecte",
    401: "Authentification requise",
    403: "Accès refusé",
    404: "Ressource introuvable",
    405: "Méthode non autorisée",
    406: "Format de réponse non disponible",
    409: "Conflit avec l'état actuel",
    410: "Ressource supprimée",
    413: "Requête trop volumineuse",
    415: "Format de données non pris en charge",
    422: "Données invalides",
    429: "Trop de requêtes",
    500: "Erreur interne",
    502: "Service en amont indisponible",
    503: "Service momentanément indisponible",
}


def french_title(status: int) -> str:
    return FRENCH_TITLES.get(status, HTTPStatus(status).phrase)


class Problem(Exception):
    """Raise to answer with a problem+json document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or HTTPStatus(status).phrase.lower().replace(" ", "-")
        self.title = title or french_title(status)
        self.errors = errors
        self.headers = headers
        self.extra = extra


def field_error(field: str, reason: str, code: str = "invalid", **extra: Any) -> dict[str, Any]:
    return {"field": field, "reason": reason, "code": code, **extra}


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    slug: str,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title or french_title(status),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    return ".".join(parts)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        request,
        exc.status,
        exc.detail,
        slug=exc.slug,
        title=exc.title,
        errors=exc.errors,
        headers=exc.headers,
        **exc.extra,
    )


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        field_error(
            _location(err.get("loc", ())), err.get("msg", "invalid"), err.get("type", "invalid")
        )
        for err in exc.errors()
    ]
    count = len(errors)
    return problem_response(
        request,
        422,
        f"The request has {count} invalid field{'s' if count > 1 else ''}.",
        slug="validation",
        errors=errors,
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    slug = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
    return problem_response(
        request, exc.status_code, detail, slug=slug, headers=getattr(exc, "headers", None)
    )


# A request failed by a dependency's outage (database, Redis, broker): when to try again.
RETRY_AFTER_S = 5
UNAVAILABLE_SLUG = "service-unavailable"
UNAVAILABLE_DETAIL = (
    "A service this request needs is momentarily out of reach; nothing was recorded "
    "unless said otherwise. Retry in a few seconds (see Retry-After)."
)


def unavailable_body(path: str, request_id: str | None = None) -> dict[str, Any]:
    """The 503 problem of a request failed by an outage (``is_transient``), never a 500."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + UNAVAILABLE_SLUG,
        "title": french_title(503),
        "status": 503,
        "detail": UNAVAILABLE_DETAIL,
        "instance": path,
        "retry_after_s": RETRY_AFTER_S,
    }
    if request_id:
        body["request_id"] = request_id
    return body


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    if is_transient(exc):  # raised outside TransientFaultMiddleware (an outer middleware)
        log.warning("http.dependency_unavailable", path=request.url.path, error=repr(exc))
        return JSONResponse(
            unavailable_body(request.url.path, getattr(request.state, "request_id", None)),
            status_code=503,
            media_type=PROBLEM_JSON,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    log.exception("http.unhandled_error", path=request.url.path, error=repr(exc))
    return problem_response(
        request,
        500,
        "An unexpected error occurred; quote the request id to the operator.",
        slug="internal-error",
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)
