"""Analytics facts from the feedback events, and the matrix cells kept in step with them.

- ``submitted`` / ``revised``: the feedback's current state; a revision replaces the state
  only if it is newer (a redelivered or late older revision changes nothing);
- ``retracted``: the feedback stops counting; its scores and comment text are deleted, and a
  tombstone keeps a later event of the same feedback from bringing it back.

Each change moves the answer's contribution between matrix cells in the same transaction.

Events are applied in batches (one per polled batch of the consumer, several tenants): the
tenants' matrix locks taken in one statement, one SELECT of the facts the events touch, the
changes worked out in memory in the events' order, then one bulk upsert of the facts and one
of the cells with the summed deltas. A batch of one is the same code, so there is a single
definition of what an event does. (Core statements on explicit tenant columns: the session's
tenant scoping applies to ORM entities, none of which is used here.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from citela_analytics import cells
from citela_analytics.domain.periods import local_day
from citela_analytics.domain.stats import Sums
from citela_analytics.models import CommentScore, FeedbackFact
from citela_common import bulk
from citela_common.db import utcnow
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import (
    FeedbackRetracted,
    FeedbackSubmitted,
    parse_data,
)

FACTS = cast(Table, FeedbackFact.__table__)
SCORES = cast(Table, CommentScore.__table__)
KEY = ("tenant_id", "feedback_id")
STATE = tuple(c.name for c in FACTS.columns if c.name not in KEY)

Fact = Mapping[str, Any]  # a feedback_facts row's state columns (STATE), in memory
FactKey = tuple[str, str]  # (tenant, feedback id)


@dataclass(frozen=True)
class Applied:
    changed: bool = False
    comment_to_score: bool = False


Contribution = tuple[str, date, Sums]


def aware(moment: datetime) -> datetime:
    """A datetime without offset is taken as UTC (the event contract's convention)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def contribution(fact: Fact | None) -> Contribution | None:
    if (
        fact is None
        or fact["retracted_at"] is not None
        or fact["day"] is None
        or fact["importance"] is None
        or fact["satisfaction"] is None
    ):
        return None
    return fact["entry_id"], fact["day"], Sums.of(fact["importance"], fact["satisfaction"])


def apply_batch(session: Session, events: Sequence[CloudEvent]) -> list[Applied]:
    """Apply feedback events in the caller's transaction; what each did, in the same order.

    Raises (and the caller rolls back) if any event is malformed: the consumer then retries
    the events one by one, so that only the bad one goes to the dead-letter topic.
    """
    out = [Applied()] * len(events)
    items: list[tuple[int, CloudEvent, FeedbackSubmitted | FeedbackRetracted]] = []
    for i, event in enumerate(events):
        data = parse_data(event)
        # FeedbackRevised is a FeedbackSubmitted; other areas' events on a shared topic: skipped
        if isinstance(data, FeedbackSubmitted | FeedbackRetracted):
            items.append((i, event, data))
    if not items:
        return out
    tenants = sorted({event.tenant for _, event, _ in items})
    cells.lock_tenants(session, tenants)
    known = _load(session, {(event.tenant, data.feedback_id) for _, event, data in items})
    now = utcnow()
    dirty: dict[FactKey, Fact] = {}
    retracted: set[FactKey] = set()
    deltas: dict[cells.TenantCellKey, Sums] = {}
    # In the events' order: per tenant (one partition, one consumer) that is their order.
    for i, event, data in items:
        key = (event.tenant, data.feedback_id)
        old = known.get(key)
        if isinstance(data, FeedbackRetracted):
            new = _retracted(old, data, now)
        else:
            new = _submitted(old, event, data, now)
        if new is None:
            continue
        known[key] = dirty[key] = new
        before, after = contribution(old), contribution(new)
        if before != after:
            if before is not None:
                _add(deltas, (event.tenant, before[0], before[1]), -before[2])
            if after is not None:
                _add(deltas, (event.tenant, after[0], after[1]), after[2])
        if isinstance(data, FeedbackRetracted):
            retracted.add(key)
            out[i] = Applied(changed=before is not None)
        else:
            out[i] = Applied(changed=True, comment_to_score=new["comment"] is not None)
    _save(session, dirty)
    bulk.delete_keys(session, SCORES, KEY, sorted(retracted))
    cells.add_many(session, deltas)
    return out


def _add(deltas: dict[cells.TenantCellKey, Sums], key: cells.TenantCellKey, sums: Sums) -> None:
    deltas[key] = deltas.get(key, Sums()) + sums


def _submitted(
    old: Fact | None, event: CloudEvent, data: FeedbackSubmitted, now: datetime
) -> Fact | None:
    """The fact after a submission or revision, or None if it changes nothing."""
    if old is not None and (old["retracted_at"] is not None or old["revision"] >= data.revision):
        return None
    submitted_at = aware(data.submitted_at)
    return {
        "entry_id": data.entry_id,
        "revision": data.revision,
        "channel": data.channel.value,
        "satisfaction": data.satisfaction,
        "importance": data.importance,
        "comment": (data.comment or "").strip() or None,
        "submitted_at": submitted_at,
        "day": local_day(submitted_at),
        "retracted_at": None,
        "event_time": aware(event.time),
        "updated_at": now,
    }


def _retracted(old: Fact | None, data: FeedbackRetracted, now: datetime) -> Fact | None:
    """The fact after a retraction (a tombstone if it was never seen), or None if already."""
    if old is not None and old["retracted_at"] is not None:
        return None
    return {
        "entry_id": data.entry_id,
        "revision": old["revision"] if old is not None else 0,
        "channel": None,
        "satisfaction": None,
        "importance": None,
        "comment": None,
        "submitted_at": None,
        "day": None,
        "retracted_at": aware(data.retracted_at),
        "event_time": old["event_time"] if old is not None else None,
        "updated_at": now,
    }


def _load(session: Session, keys: set[FactKey]) -> dict[FactKey, Fact]:
    rows = bulk.rows_by_keys(session, FACTS, KEY, sorted(keys), (*KEY, *STATE))
    return {(row[0], row[1]): dict(zip(STATE, row[2:], strict=True)) for row in rows}


_SAVE = bulk.OnConflict(KEY, overwrite=STATE)


def _save(session: Session, dirty: dict[FactKey, Fact]) -> None:
    """Write the changed facts, one statement for the batch."""
    bulk.write(
        session,
        FACTS,
        [
            {"tenant_id": tenant, "feedback_id": feedback_id, **fact}
            for (tenant, feedback_id), fact in sorted(dirty.items(), key=lambda kv: kv[0])
        ],
        on_conflict=_SAVE,
    )
