"""Who is visiting: the signed-in person (from the feedback API's tokens, kept in cookies), CSRF.

The access and refresh tokens live in HttpOnly, SameSite=Lax cookies; an expired access token is
exchanged for a new pair through the feedback API on the next page. Every form that changes
something carries a CSRF token equal to the `citela_csrf` cookie (double submit), on top of
SameSite, so another site can never post on a visitor's behalf.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citela_common.auth import (
    InvalidToken,
    TokenService,
    TokenType,
    UserPrincipal,
    user_from_claims,
)
from citela_common.logging import get_logger
from citela_web.api_client import Api, ApiError

log = get_logger(__name__)

ACCESS_COOKIE = "citela_session"
REFRESH_COOKIE = "citela_refresh"
CSRF_COOKIE = "citela_csrf"
CSRF_FIELD = "csrf"


@dataclass
class Visitor:
    token: str | None
    user: UserPrincipal | None
    csrf: str
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def signed_in(self) -> bool:
        return self.user is not None

    def staff_tenants(self) -> list[str]:
        """Tenants where the person holds a staff role, sorted."""
        return sorted(t for t, roles in (self.user.roles if self.user else {}).items() if roles)

    def is_staff(self, tenant: str) -> bool:
        return bool(self.user and self.user.roles.get(tenant))


def pending_cookies(request: Request) -> list[tuple[str, str, int | None]]:
    """Cookies to set on whatever response this request ends with (name, value, max-age)."""
    state = request.scope.setdefault("state", {})
    cookies: list[tuple[str, str, int | None]] = state.setdefault("web_cookies", [])
    return cookies


def set_cookie(request: Request, name: str, value: str, max_age: int | None) -> None:
    pending_cookies(request).append((name, value, max_age))


def clear_cookie(request: Request, name: str) -> None:
    pending_cookies(request).append((name, "", 0))


def remember_tokens(request: Request, tokens: dict[str, Any], refresh_ttl_s: int) -> None:
    set_cookie(request, ACCESS_COOKIE, str(tokens["access_token"]), None)
    set_cookie(request, REFRESH_COOKIE, str(tokens["refresh_token"]), refresh_ttl_s)


def forget_tokens(request: Request) -> None:
    clear_cookie(request, ACCESS_COOKIE)
    clear_cookie(request, REFRESH_COOKIE)


class CookieMiddleware:
    """Adds the cookies a handler queued with `set_cookie` to its response, whatever it is."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                queued = scope.get("state", {}).get("web_cookies") or []
                headers = list(message.get("headers", []))
                for name, value, max_age in queued:
                    parts = [f"{name}={value}", "Path=/", "SameSite=Lax"]
                    if name != CSRF_COOKIE:
                        parts.append("HttpOnly")
                    if max_age is not None:
                        parts.append(f"Max-Age={max_age}")
                    if self.secure:
                        parts.append("Secure")
                    headers.append((b"set-cookie", "; ".join(parts).encode("latin-1")))
                # Pages hold personal data or CSRF tokens: never from a shared cache.
                headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cookies)


async def load_visitor(request: Request, api: Api, tokens: TokenService) -> Visitor:
    """The visitor of this request; refreshes an expired session through the feedback API."""
    cached: Visitor | None = getattr(request.state, "visitor", None)
    if cached is not None:
        return cached
    csrf = request.cookies.get(CSRF_COOKIE) or ""
    if len(csrf) < 32:
        csrf = secrets.token_urlsafe(32)
        set_cookie(request, CSRF_COOKIE, csrf, None)
    visitor = Visitor(None, None, csrf)
    access = request.cookies.get(ACCESS_COOKIE)
    refresh = request.cookies.get(REFRESH_COOKIE)
    if access:
        try:
            claims = tokens.decode(access, TokenType.ACCESS)
            visitor = Visitor(access, user_from_claims(claims), csrf, claims)
        except InvalidToken:
            access = None
    if not access and refresh:
        try:
            pair = await api.post("feedback", "/v1/auth/refresh", json={"refresh_token": refresh})
        except ApiError as exc:
            log.info("web.session_refresh_refused", status=exc.status)
            forget_tokens(request)
        else:
            remember_tokens(request, pair, int(tokens.refresh_ttl.total_seconds()))
            claims = tokens.decode(pair["access_token"], TokenType.ACCESS)
            visitor = Visitor(pair["access_token"], user_from_claims(claims), csrf, claims)
    request.state.visitor = visitor
    return visitor


def csrf_valid(visitor: Visitor, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(visitor.csrf, submitted or "")
