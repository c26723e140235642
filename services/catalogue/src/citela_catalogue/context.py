"""What the catalogue's routes share beyond the runtime: its cache and how it reads."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from citela_common.cache import Cache
from citela_common.db import Database

LIST_TTL_S = 300
"""How long a read's body stays in the cache (a change of the tenant's catalogue makes it
stale before that: the key holds the tenant's generation)."""


@dataclass(frozen=True)
class CatalogueContext:
    """The catalogue's part of its ``ServiceRuntime``."""

    cache: Cache
    reading: Callable[[], AbstractContextManager[Session]]
    list_ttl_s: int = LIST_TTL_S


def read_sessions(db: Database) -> Callable[[], AbstractContextManager[Session]]:
    """Sessions for the GET routes. SQLite: ``db.read()`` (deferred, locks nothing).
    PostgreSQL: autocommit, each statement its own snapshot: a listing is mostly one
    statement, and BEGIN and COMMIT were two more round trips to PostgreSQL per request."""
    if db.is_sqlite:
        return db.read
    return sessionmaker(
        db.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )
