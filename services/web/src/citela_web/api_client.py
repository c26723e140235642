"""The web service's only way to data: the public HTTP APIs, called with the visitor's token.

In the embedded mode the APIs live in the same process, so requests go through an ASGI
transport to the platform's own app (no socket, no port); in the distributed mode they go over
HTTP to each service's base URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from citela_common.logging import get_logger

log = get_logger(__name__)

Params = Mapping[str, str | int | float | bool | list[str] | None]


@dataclass
class FieldProblem:
    field: str
    message: str
    code: str | None = None


@dataclass
class ApiError(Exception):
    """A problem+json answer of an API (or the API did not answer at all: status 502/503)."""

    status: int
    title: str
    detail: str = ""
    slug: str | None = None
    errors: list[FieldProblem] = field(default_factory=list)
    body: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"

    def field_names(self) -> set[str]:
        """Field names without their location prefix (`body.comment` -> `comment`)."""
        return {e.field.rsplit(".", 1)[-1] for e in self.errors}

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        body: Mapping[str, Any] = {}
        try:
            parsed = response.json()
            if isinstance(parsed, dict):
                body = parsed
        except ValueError:
            pass
        errors = [
            FieldProblem(
                str(e.get("field") or ""),
                str(e.get("reason") or e.get("message") or ""),
                e.get("code"),
            )
            for e in body.get("errors") or []
            if isinstance(e, dict)
        ]
        type_ = str(body.get("type") or "")
        return cls(
            status=response.status_code,
            title=str(body.get("title") or response.reason_phrase),
            detail=str(body.get("detail") or ""),
            slug=type_.rsplit("/", 1)[-1] if type_ else None,
            errors=errors,
            body=body,
        )


class Api:
    """Async client of the four public APIs. `token` is the visitor's bearer access token."""

    def __init__(self, client: httpx.AsyncClient, bases: Mapping[str, str]) -> None:
        self.client = client
        self.bases = dict(bases)

    def url(self, service: str, path: str) -> str:
        return self.bases[service].rstrip("/") + path

    async def request(
        self,
        method: str,
        service: str,
        path: str,
        *,
        token: str | None = None,
        params: Params | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The raw response when it is a success (2xx/3xx); raises ApiError otherwise."""
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        try:
            response = await self.client.request(
                method, self.url(service, path), params=clean, json=json, headers=sent
            )
        except httpx.HTTPError as exc:
            log.warning("web.api_unreachable", service=service, path=path, error=repr(exc))
            raise ApiError(
                503,
                "Service momentanément indisponible",
                f"The {service} service did not answer.",
                slug="unavailable",
            ) from exc
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    async def get(self, service: str, path: str, **kwargs: Any) -> Any:
        return (await self.request("GET", service, path, **kwargs)).json()

    async def _body(self, method: str, service: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, service, path, **kwargs)
        return response.json() if response.content else None

    async def post(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self._body("POST", service, path, **kwargs)

    async def put(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self._body("PUT", service, path, **kwargs)

    async def patch(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self._body("PATCH", service, path, **kwargs)

    async def delete(self, service: str, path: str, **kwargs: Any) -> None:
        await self.request("DELETE", service, path, **kwargs)
