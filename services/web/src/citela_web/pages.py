"""What every page handler uses: rendering a template, one-time messages, redirects after a
POST, the CSRF check of a form, and the Jinja environment itself."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from citela_web import filters
from citela_web.api_client import ApiError
from citela_web.context import web
from citela_web.session import CSRF_FIELD, Visitor, clear_cookie, csrf_valid, set_cookie

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
FLASH_COOKIE = "citela_flash"


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
    return web(request).templates.TemplateResponse(request, template, page, status_code=status_code)


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


def static_versions() -> dict[str, str]:
    """Content hashes of the static files: their URLs change when they do (cache for a year)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10]
        for p in STATIC_DIR.iterdir()
        if p.is_file()
    }


def create_templates(versions: dict[str, str]) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.globals["static"] = lambda name: f"/static/{name}?v={versions.get(name, '0')}"
    # A page meant to be saved (the synthesis report) carries its styles in itself.
    styles = {name: (STATIC_DIR / name).read_text("utf-8") for name in versions}
    env.globals["inline_static"] = styles.__getitem__
    filters.install(env)
    return templates
