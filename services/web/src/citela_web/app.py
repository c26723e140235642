"""The web app: Jinja2 pages over the public APIs, static assets, French error pages."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from citela_common.auth import TokenService
from citela_common.logging import get_logger
from citela_common.settings import Settings
from citela_common.web import create_service_app
from citela_web import filters
from citela_web.api_client import Api, ApiError
from citela_web.messages import problem_message
from citela_web.session import (
    CSRF_FIELD,
    CookieMiddleware,
    Visitor,
    clear_cookie,
    csrf_valid,
    load_visitor,
    set_cookie,
)

log = get_logger(__name__)

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
FLASH_COOKIE = "citela_flash"


@dataclass
class WebContext:
    settings: Settings
    api: Api
    tokens: TokenService
    templates: Jinja2Templates
    static_versions: dict[str, str]


def web(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx


async def visitor(request: Request) -> Visitor:
    """FastAPI dependency: the visitor of the request (signed in or not)."""
    ctx = web(request)
    return await load_visitor(request, ctx.api, ctx.tokens)


def _flash_signature(request: Request, payload: str) -> str:
    # A key of its own, derived from the platform secret (as the token key is).
    key = hashlib.sha256(
        b"citela-flash\x1f" + web(request).settings.secret_key.get_secret_value().encode()
    ).digest()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()[:32]


def flash(request: Request, message: str, kind: str = "success") -> None:
    """A message shown once, on the next page (after a redirect)."""
    payload = json.dumps({"m": message, "k": kind}, ensure_ascii=True)
    set_cookie(request, FLASH_COOKIE, quote(payload + "|" + _flash_signature(request, payload)), 60)


def _take_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    clear_cookie(request, FLASH_COOKIE)
    payload, _, signature = unquote(raw).rpartition("|")
    if not hmac.compare_digest(signature, _flash_signature(request, payload)):
        return None
    data = json.loads(payload)
    return {"message": str(data["m"]), "kind": str(data["k"])}


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page; every template sees `visitor`, `csrf_field`, `flash` and `static`."""
    ctx = web(request)
    current: Visitor | None = getattr(request.state, "visitor", None)
    page = {
        "request": request,
        "visitor": current,
        "csrf_field_name": CSRF_FIELD,
        "csrf_token": current.csrf if current else "",
        "flash": _take_flash(request),
        "now": datetime.now(UTC),
        **(context or {}),
    }
    return ctx.templates.TemplateResponse(request, template, page, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    """After a POST: 303 so the browser GETs the next page (no resubmission on reload)."""
    return RedirectResponse(url, status_code=303)


def check_csrf(request: Request, current: Visitor, form: Mapping[str, Any]) -> None:
    """Refuse a form posted without the visitor's CSRF token (another site, or a stale page)."""
    submitted = form.get(CSRF_FIELD)
    if not csrf_valid(current, submitted if isinstance(submitted, str) else None):
        raise ApiError(
            403,
            "Accès refusé",
            "The form's security token is missing or stale.",
            slug="csrf",
        )


def _static_versions() -> dict[str, str]:
    """Content hashes of the static files: their URLs change when they do (cache for a year)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10]
        for p in STATIC_DIR.iterdir()
        if p.is_file()
    }


def create_templates(static_versions: dict[str, str]) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.globals["static"] = lambda name: f"/static/{name}?v={static_versions.get(name, '0')}"
    filters.install(env)
    return templates


class _CachedStatic(StaticFiles):
    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response


def create_web_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    bases: Mapping[str, str] | None = None,
) -> FastAPI:
    """The web app. `transport` (ASGI, embedded mode) or `bases` (HTTP URLs) reach the APIs."""
    if bases is None:
        bases = {
            "catalogue": settings.web_catalogue_url,
            "feedback": settings.web_feedback_url,
            "analytics": settings.web_analytics_url,
            "ingest": settings.web_ingest_url,
        }
    client = httpx.AsyncClient(
        transport=transport,
        base_url="http://citela.internal" if transport is not None else "",
        timeout=httpx.Timeout(15.0, connect=5.0),
        headers={"User-Agent": "citela-web"},
    )
    api = Api(client, bases)
    versions = _static_versions()
    app = create_service_app(
        "web",
        title="Citéla — portail et tableau de bord",
        description="Pages web (HTML, français) du portail citoyen et du tableau de bord.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.web = WebContext(
        settings, api, TokenService(settings), create_templates(versions), versions
    )
    app.mount("/static", _CachedStatic(directory=str(STATIC_DIR)), name="static")

    from citela_web import dashboard, portal

    app.include_router(portal.router)
    app.include_router(dashboard.router)

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        current = await visitor(request)
        if exc.status == 401:
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return redirect(f"/compte/connexion?suivant={quote(back, safe='')}")
        log.info("web.api_error", status=exc.status, slug=exc.slug, path=request.url.path)
        return render(
            request,
            "error.html",
            {"status": exc.status, "message": problem_message(exc), "visitor": current},
            status_code=exc.status if exc.status >= 400 else 500,
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        await visitor(request)
        message = {404: "Cette page n'existe pas.", 405: "Cette action n'est pas possible ici."}
        return render(
            request,
            "error.html",
            {"status": exc.status_code, "message": message.get(exc.status_code, str(exc.detail))},
            status_code=exc.status_code,
        )

    async def on_invalid(request: Request, exc: Exception) -> Response:
        await visitor(request)
        return render(
            request,
            "error.html",
            {"status": 400, "message": "L'adresse de la page contient une valeur incorrecte."},
            status_code=400,
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_middleware(CookieMiddleware, secure=settings.web_secure_cookies)
    return app
