"""The matrix's quadrants as the analytics API names them (`GET /v1/quadrants`).

The rule that puts a point in a quadrant, and the quadrants' French names, live in analytics;
every point of its matrix carries its quadrant's code and label. The chart also names the four
regions, whatever points fall in them: those names are asked of the API once and kept a while
in this process (they change with a deployment, not with the data).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from citela_common.logging import get_logger
from citela_web.api_client import Api, ApiError

log = get_logger(__name__)


@dataclass(frozen=True)
class Quadrant:
    code: str
    label: str
    action: str = ""
    description: str = ""


class QuadrantBook:
    """The API's quadrants, in its order; asked again after ``ttl_s`` seconds."""

    def __init__(self, api: Api, ttl_s: float) -> None:
        self.api = api
        self.ttl_s = ttl_s
        self._known: list[Quadrant] = []
        self.rule = ""  # how a point is placed, in French words (as the API last said)
        self._until = 0.0
        self._lock = asyncio.Lock()

    async def all(self) -> list[Quadrant]:
        if self._known and time.monotonic() < self._until:
            return self._known
        async with self._lock:
            if self._known and time.monotonic() < self._until:
                return self._known
            try:
                raw = await self.api.get("analytics", "/v1/quadrants")
            except ApiError as exc:
                if not self._known:
                    raise
                # Names a while out of date beat a dashboard that does not open.
                log.warning("web.quadrants_stale", status=exc.status)
                return self._known
            self._known = parse(raw)
            self.rule = str(raw.get("rule") or "") if isinstance(raw, Mapping) else ""
            self._until = time.monotonic() + self.ttl_s
        return self._known

    async def listed(self, points: Iterable[Mapping[str, Any]] = ()) -> list[Quadrant]:
        """The quadrants, in the API's order (the order of the priorities). An analytics API
        without `/v1/quadrants` (an older version, during a deployment) still names those its
        ``points`` carry."""
        try:
            return await self.all()
        except ApiError as exc:
            if exc.status != 404:
                raise
        seen: dict[str, Quadrant] = {}
        for p in points:
            if p.get("quadrant") and p["quadrant"] not in seen:
                seen[str(p["quadrant"])] = Quadrant(str(p["quadrant"]), str(p["quadrant_label"]))
        return list(seen.values())

    async def labels(self, points: Iterable[Mapping[str, Any]] = ()) -> dict[str, str]:
        """The quadrants' names by code (see `listed`)."""
        return {q.code: q.label for q in await self.listed(points)}


def parse(raw: Any) -> list[Quadrant]:
    items: Sequence[Mapping[str, Any]] = raw["items"] if isinstance(raw, Mapping) else raw
    return [
        Quadrant(
            code=str(q["code"]),
            label=str(q["label"]),
            action=str(q.get("action") or ""),
            description=str(q.get("description") or ""),
        )
        for q in items
    ]
