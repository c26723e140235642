"""ETag / Cache-Control on reads, and 304 when the client already has the representation."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from fastapi import Request, Response
from starlette.background import BackgroundTask

from citela_common.cache import Cache


def etag_of(body: bytes) -> str:
    return 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def conditional_json(
    request: Request, body: bytes, *, max_age: int = 60, public: bool = True
) -> Response:
    etag = etag_of(body)
    headers = {
        "ETag": etag,
        "Cache-Control": f"{'public' if public else 'private'}, max-age={max_age}",
        "Vary": "Accept-Encoding",
    }
    candidates = {t.strip() for t in request.headers.get("if-none-match", "").split(",")}
    if etag in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def read_through(
    request: Request,
    cache: Cache,
    tenant: str,
    build: Callable[[int], bytes],
    *,
    ttl_s: int,
    max_age: int = 60,
    public: bool = True,
) -> Response:
    """A tenant's JSON read, served from ``cache`` while the tenant's generation holds.

    The key is the tenant, its current generation (bumped by the consumers when its data
    changes) and the request's path and query, so a stale body is never served after a
    change. ``build(generation)`` computes the body on a miss; it is stored once the answer
    is sent, so the client does not wait for the cache to take it.
    """
    generation = cache.generation(tenant)
    key = f"{tenant}:{generation}:{request.url.path}?{request.url.query}"
    body = cache.get(key)
    store: BackgroundTask | None = None
    if body is None:
        body = build(generation)
        store = BackgroundTask(cache.set, key, body, ttl_s)
    response = conditional_json(request, body, max_age=max_age, public=public)
    response.background = store
    return response
