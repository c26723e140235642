"""The web app: Jinja2 pages over the public APIs, static assets, French error pages.

This module only assembles: the context every page reads, the static files, the routers of
each area (portal, account, feedback form, dashboard, its admin pages) and the error pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from citela_common.auth import TokenService
from citela_common.settings import Settings, settings_for
from citela_common.web import create_service_app
from citela_web import account, dashboard, dashboard_admin, errors, feedback_form, portal
from citela_web.api_client import Api
from citela_web.context import WebContext
from citela_web.pages import STATIC_DIR, create_templates, static_versions
from citela_web.quadrants import QuadrantBook
from citela_web.session import CookieMiddleware
from citela_web.settings import WebSettings


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
    own = settings_for(settings, WebSettings)
    client = httpx.AsyncClient(
        transport=transport,
        base_url="http://citela.internal" if transport is not None else "",
        timeout=httpx.Timeout(15.0, connect=5.0),
        headers={"User-Agent": "citela-web"},
    )
    api = Api(client, bases if bases is not None else own.api_bases())
    versions = static_versions()
    app = create_service_app(
        "web",
        title="Citéla — portail et tableau de bord",
        description="Pages web (HTML, français) du portail citoyen et du tableau de bord.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.web = WebContext(
        settings=own,
        api=api,
        tokens=TokenService(own),
        templates=create_templates(versions),
        static_versions=versions,
        quadrants=QuadrantBook(api, own.web_quadrants_ttl_s),
    )
    app.mount("/static", _CachedStatic(directory=str(STATIC_DIR)), name="static")
    app.include_router(account.router)
    app.include_router(portal.router)
    app.include_router(feedback_form.router)
    app.include_router(dashboard.router)
    app.include_router(dashboard_admin.router)
    errors.install(app)
    app.add_middleware(CookieMiddleware, secure=own.web_secure_cookies)
    return app
