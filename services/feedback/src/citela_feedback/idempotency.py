"""``Idempotency-Key`` on the POSTs that create: a retry gets the first response, once.

A request reads the key's record first (with everything else it reads, in one query): a live
one is replayed. Otherwise the request does its work and stores its response under the key
in the same transaction (``record``): a concurrent retry with the key waits on that row
(PostgreSQL) or on the write lock (SQLite), finds it taken, rolls back and replays it. Only
successful responses are stored: a request that failed created nothing, so running it again
is safe. The same key with another body is refused (422).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from citela_common.web import Problem, field_error
from citela_feedback.models import IdempotencyRecord
from citela_feedback.pgsql import insert_from_json

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Problem(
            422,
            f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable characters.",
            slug="validation",
            errors=[field_error("header.Idempotency-Key", "empty, too long or not printable")],
        )
    return key


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: Any


@dataclass(frozen=True)
class Stored:
    """A key's record as read at the start of a request."""

    request_hash: str
    status_code: int
    response: Any
    expires_at: datetime


def reused() -> Problem:
    return Problem(
        422,
        "This Idempotency-Key was already used with another request body.",
        slug="idempotency-key-reused",
        title="Clé d'idempotence déjà utilisée",
        errors=[
            field_error(
                "header.Idempotency-Key",
                "already used for a different request; use a new key",
                "reused",
            )
        ],
    )


def replay(stored: Stored | None, request_hash: str, now: datetime) -> Replay | None:
    """The first response to replay, None when the key is free (unused or expired); a key
    used with another body is refused (422)."""
    if stored is None or stored.expires_at <= now or not stored.status_code:
        return None
    if stored.request_hash != request_hash:
        raise reused()
    return Replay(stored.status_code, stored.response)


_TABLE = cast(Table, IdempotencyRecord.__table__)


_CHANGED = ("request_hash", "status_code", "response", "account_id", "created_at", "expires_at")
CLAIM_KEYS = ("tenant_id", "principal", "key", *_CHANGED)

# PostgreSQL, inside the intake's one write statement (its rows in the :claim parameter).
PG_CLAIM = (
    insert_from_json(_TABLE, CLAIM_KEYS, "claim")
    + ' ON CONFLICT ("tenant_id", "principal", "key") DO UPDATE SET '
    + ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in _CHANGED)
    + ' WHERE t."expires_at" <= EXCLUDED."created_at" RETURNING 1'
)


def claim_row(
    *,
    tenant: str,
    principal: str,
    key: str,
    request_hash: str,
    status_code: int,
    response: Any,
    account_id: str | None,
    now: datetime,
    ttl: timedelta,
) -> dict[str, Any]:
    """The key's record holding the response (columns of ``idempotency_keys``)."""
    return {
        "tenant_id": tenant,
        "principal": principal,
        "key": key,
        "request_hash": request_hash,
        "status_code": status_code,
        "response": response,
        "account_id": account_id,
        "created_at": now,
        "expires_at": now + ttl,
    }


@lru_cache(maxsize=4)
def _record_statement(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO UPDATE (only an expired record) … RETURNING, built once."""
    insert: Any = postgresql.insert(_TABLE) if dialect == "postgresql" else sqlite.insert(_TABLE)
    return insert.on_conflict_do_update(
        index_elements=[_TABLE.c.tenant_id, _TABLE.c.principal, _TABLE.c.key],
        set_={c: insert.excluded[c] for c in _CHANGED},
        where=_TABLE.c.expires_at <= insert.excluded.created_at,
    ).returning(_TABLE.c.key)


def record(session: Session, row: dict[str, Any]) -> bool:
    """Store a key's record (``claim_row``) in the request's transaction; False when a live
    record holds the key already (a concurrent request with it committed first: its
    transaction wins, this one rolls back and replays it)."""
    conn = session.connection()
    return conn.execute(_record_statement(conn.dialect.name), row).first() is not None
