"""Request ids and HTTP metrics, and 503 for a request failed by an outage: pure ASGI
middlewares (cheap, streaming-safe)."""

from __future__ import annotations

import json
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citela_common.faults import is_transient
from citela_common.logging import get_logger, log_context
from citela_common.metrics import HTTP_LATENCY, HTTP_REQUESTS
from citela_common.web.problems import PROBLEM_JSON, RETRY_AFTER_S, unavailable_body

log = get_logger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class ObservabilityMiddleware:
    """Binds a request id (taken from X-Request-ID when sane) and records metrics by route."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = (
            dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        )
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            with log_context(request_id=request_id):
                await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            labels = {
                "service": self.service,
                "route": route,
                "method": scope["method"],
                "status": str(status),
            }
            HTTP_REQUESTS.labels(**labels).inc()
            HTTP_LATENCY.labels(**labels).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    # Bounded label: the matched route's template, never the raw path (ids would explode it).
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "unmatched"


class TransientFaultMiddleware:
    """A request whose handler raised because a dependency is down (``is_transient``: the
    database, Redis, the broker) answers 503 problem+json with ``Retry-After``, not 500: the
    client may retry the same request (with its Idempotency-Key) once it is back. Anything
    else goes on to the 500 handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if started or not is_transient(exc):
                raise
            path = scope.get("path", "")
            log.warning("http.dependency_unavailable", path=path, error=repr(exc))
            request_id = (scope.get("state") or {}).get("request_id")
            body = json.dumps(unavailable_body(path, request_id), ensure_ascii=False).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", PROBLEM_JSON.encode()),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(RETRY_AFTER_S).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
