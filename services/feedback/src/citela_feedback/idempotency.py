"""``Idempotency-Key`` on the POSTs that create: a retry gets the first response, once.

The key is claimed by inserting its row in the same transaction as the work: a concurrent
retry waits on that row (PostgreSQL) or on the write lock (SQLite), then finds it and
replays. Only successful responses are stored: a request that failed created nothing, so
running it again is safe. The same key with another body is refused (422).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from citela_common.web import Problem, field_error
from citela_feedback.models import IdempotencyRecord

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


@dataclass
class Claim:
    record: IdempotencyRecord

    def complete(self, status_code: int, body: Any) -> None:
        self.record.status_code = status_code
        self.record.response = body


def claim(
    session: Session,
    *,
    tenant: str,
    principal: str,
    key: str,
    request_hash: str,
    account_id: str | None,
    now: datetime,
    ttl: timedelta,
) -> Replay | Claim:
    """Replay the stored response, or claim the key for this request (flushes the claim)."""
    record = session.get(IdempotencyRecord, (tenant, principal, key))
    if record is not None and record.expires_at > now and record.status_code:
        if record.request_hash != request_hash:
            raise Problem(
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
        return Replay(record.status_code, record.response)
    if record is not None:  # expired: the key may be used afresh
        session.delete(record)
        session.flush()
    record = IdempotencyRecord(
        tenant_id=tenant,
        principal=principal,
        key=key,
        request_hash=request_hash,
        status_code=0,
        account_id=account_id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(record)
    session.flush()
    return Claim(record)
