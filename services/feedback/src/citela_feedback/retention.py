"""Retention of the feedback service's own records: expired ``Idempotency-Key`` records.

A record past ``expires_at`` is already treated as absent (a retry with its key is a new
request, see citela_feedback.idempotency), so deleting it changes no answer; a record not yet
expired is never touched.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table

from citela_common.db import Database, utcnow
from citela_common.retention import purge
from citela_feedback.models import IdempotencyRecord

SERVICE = "feedback"
_TABLE = cast(Table, IdempotencyRecord.__table__)


def purge_idempotency_records(db: Database, *, batch_size: int, now: datetime | None = None) -> int:
    """Delete the idempotency records expired at ``now``; how many went."""
    condition = _TABLE.c.expires_at <= (now or utcnow())
    return purge(db, _TABLE, condition, service=SERVICE, batch_size=batch_size)
