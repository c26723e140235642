"""Identifiers: random, URL-safe, not guessable (they appear in URLs and events)."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return uuid.uuid4().hex
