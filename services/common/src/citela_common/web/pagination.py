"""Cursor pagination shared by every list endpoint: opaque, URL-safe, tamper-evident enough.

A cursor encodes the sort key of the last item returned; the next page starts after it, so
pages stay stable while rows are added (unlike offsets).
"""

from __future__ import annotations

import base64
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from citela_common.web.problems import Problem, field_error

T = TypeVar("T")


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad_cursor() from exc
    if not isinstance(key, list) or len(key) != arity:
        raise _bad_cursor()
    return key


def _bad_cursor() -> Problem:
    return Problem(
        400,
        "The cursor is not one this API returned.",
        slug="invalid-cursor",
        errors=[field_error("query.cursor", "malformed or foreign cursor")],
    )


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="pass as `cursor` to get the next page; null on the last page"
    )
