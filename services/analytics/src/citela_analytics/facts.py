"""Analytics facts from the feedback events, and the matrix cells kept in step with them.

- ``submitted`` / ``revised``: the feedback's current state; a revision replaces the state
  only if it is newer (a redelivered or late older revision changes nothing);
- ``retracted``: the feedback stops counting; its scores and comment text are deleted, and a
  tombstone keeps a later event of the same feedback from bringing it back.

Each change moves the answer's contribution between matrix cells in the same transaction.

Events are applied in batches (one per polled batch of the consumer): per tenant, in the
events' order, one SELECT of the facts they touch, the changes worked out in memory, then one
bulk upsert of the facts and one of the cells with the summed deltas. A batch of one is the
same code, so there is a single definition of what an event does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from citela_analytics import cells
from citela_analytics.domain.periods import local_day
from citela_analytics.domain.stats import Sums
from citela_analytics.models import CommentScore, FeedbackFact
from citela_common.db import utcnow
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import (
    FeedbackRetracted,
    FeedbackSubmitted,
    parse_data,
)
from citela_common.tenancy import scope_to_tenant

FACTS = cast(Table, FeedbackFact.__table__)
SCORES = cast(Table, CommentScore.__table__)
KEY = ("tenant_id", "feedback_id")
STATE = tuple(c.name for c in FACTS.columns if c.name not in KEY)

Fact = Mapping[str, Any]  # a feedback_facts row's state columns (STATE), in memory


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


def apply_event(session: Session, event: CloudEvent) -> Applied:
    """Apply one feedback event in the caller's transaction."""
    return apply_batch(session, [event])[0]


def apply_batch(session: Session, events: Sequence[CloudEvent]) -> list[Applied]:
    """Apply feedback events in the caller's transaction; what each did, in the same order.

    Raises (and the caller rolls back) if any event is malformed: the consumer then retries
    the events one by one, so that only the bad one goes to the dead-letter topic.
    """
    out = [Applied()] * len(events)
    by_tenant: dict[str, list[tuple[int, CloudEvent, FeedbackSubmitted | FeedbackRetracted]]] = {}
    for i, event in enumerate(events):
        data = parse_data(event)
        # FeedbackRevised is a FeedbackSubmitted; other areas' events on a shared topic: skipped
        if isinstance(data, FeedbackSubmitted | FeedbackRetracted):
            by_tenant.setdefault(event.tenant, []).append((i, event, data))
    now = utcnow()
    for tenant in sorted(by_tenant):  # one lock order for every writer: no deadlock
        for i, applied in _apply_tenant(session, tenant, by_tenant[tenant], now):
            out[i] = applied
    return out


def _apply_tenant(
    session: Session,
    tenant: str,
    items: list[tuple[int, CloudEvent, FeedbackSubmitted | FeedbackRetracted]],
    now: datetime,
) -> list[tuple[int, Applied]]:
    scope_to_tenant(session, tenant)
    cells.lock_tenant(session, tenant)
    known = _load(session, tenant, {data.feedback_id for _, _, data in items})
    dirty: dict[str, Fact] = {}
    retracted: list[str] = []
    deltas: dict[cells.CellKey, Sums] = {}
    out: list[tuple[int, Applied]] = []
    for i, event, data in items:
        old = known.get(data.feedback_id)
        if isinstance(data, FeedbackRetracted):
            new = _retracted(old, data, now)
        else:
            new = _submitted(old, event, data, now)
        if new is None:
            continue
        known[data.feedback_id] = dirty[data.feedback_id] = new
        before, after = contribution(old), contribution(new)
        if before != after:
            if before is not None:
                _add(deltas, before[:2], -before[2])
            if after is not None:
                _add(deltas, after[:2], after[2])
        if isinstance(data, FeedbackRetracted):
            retracted.append(data.feedback_id)
            out.append((i, Applied(changed=before is not None)))
        else:
            out.append((i, Applied(changed=True, comment_to_score=new["comment"] is not None)))
    _save(session, tenant, dirty)
    if retracted:
        session.execute(
            delete(SCORES).where(
                SCORES.c.tenant_id == tenant, SCORES.c.feedback_id.in_(sorted(set(retracted)))
            )
        )
    cells.add_many(session, tenant, deltas)
    return out


def _add(deltas: dict[cells.CellKey, Sums], key: cells.CellKey, sums: Sums) -> None:
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


def _load(session: Session, tenant: str, feedback_ids: set[str]) -> dict[str, Fact]:
    rows = session.execute(
        select(FACTS.c.feedback_id, *(FACTS.c[c] for c in STATE)).where(
            FACTS.c.tenant_id == tenant, FACTS.c.feedback_id.in_(sorted(feedback_ids))
        )
    )
    return {row[0]: dict(zip(STATE, row[1:], strict=True)) for row in rows}


def _upsert(dialect: str) -> postgresql.Insert | sqlite.Insert:
    insert = postgresql.insert(FACTS) if dialect == "postgresql" else sqlite.insert(FACTS)
    return insert.on_conflict_do_update(
        index_elements=[FACTS.c[c] for c in KEY],
        set_={c: insert.excluded[c] for c in STATE},
    )


_UPSERTS = {name: _upsert(name) for name in ("postgresql", "sqlite")}


def _save(session: Session, tenant: str, dirty: dict[str, Fact]) -> None:
    """Write the changed facts, one statement for the batch."""
    if not dirty:
        return
    dialect = session.get_bind().dialect.name
    session.execute(
        _UPSERTS["postgresql" if dialect == "postgresql" else "sqlite"],
        [
            {"tenant_id": tenant, "feedback_id": feedback_id, **fact}
            for feedback_id, fact in dirty.items()
        ],
    )
