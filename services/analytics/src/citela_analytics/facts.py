"""Analytics facts from the feedback events, and the matrix cells kept in step with them.

- ``submitted`` / ``revised``: the feedback's current state; a revision replaces the state
  only if it is newer (a redelivered or late older revision changes nothing);
- ``retracted``: the feedback stops counting; its scores and comment text are deleted, and a
  tombstone keeps a later event of the same feedback from bringing it back.

Each change moves the answer's contribution between matrix cells in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import delete
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


@dataclass(frozen=True)
class Applied:
    changed: bool = False
    comment_to_score: bool = False


Contribution = tuple[str, date, Sums]


def aware(moment: datetime) -> datetime:
    """A datetime without offset is taken as UTC (the event contract's convention)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def contribution(fact: FeedbackFact | None) -> Contribution | None:
    if (
        fact is None
        or fact.retracted_at is not None
        or fact.day is None
        or fact.importance is None
        or fact.satisfaction is None
    ):
        return None
    return fact.entry_id, fact.day, Sums.of(fact.importance, fact.satisfaction)


def move(session: Session, tenant: str, old: Contribution | None, new: Contribution | None) -> None:
    if old == new:
        return
    if old is not None:
        cells.add(session, tenant, old[0], old[1], -old[2])
    if new is not None:
        cells.add(session, tenant, new[0], new[1], new[2])


def apply_event(session: Session, event: CloudEvent) -> Applied:
    """Apply one feedback event in the caller's transaction."""
    scope_to_tenant(session, event.tenant)
    data = parse_data(event)
    if isinstance(data, FeedbackSubmitted):  # FeedbackRevised is a FeedbackSubmitted
        return upsert(session, event, data)
    if isinstance(data, FeedbackRetracted):
        return retract(session, event.tenant, data)
    return Applied()  # another area's event on a shared topic


def upsert(session: Session, event: CloudEvent, data: FeedbackSubmitted) -> Applied:
    tenant = event.tenant
    cells.lock_tenant(session, tenant)
    fact = session.get(FeedbackFact, (tenant, data.feedback_id))
    if fact is not None and (fact.retracted_at is not None or fact.revision >= data.revision):
        return Applied()
    old = contribution(fact)
    if fact is None:
        fact = FeedbackFact(tenant_id=tenant, feedback_id=data.feedback_id)
        session.add(fact)
    comment = (data.comment or "").strip() or None
    fact.entry_id = data.entry_id
    fact.revision = data.revision
    fact.channel = data.channel.value
    fact.satisfaction = data.satisfaction
    fact.importance = data.importance
    fact.comment = comment
    fact.submitted_at = aware(data.submitted_at)
    fact.day = local_day(fact.submitted_at)
    fact.event_time = aware(event.time)
    fact.updated_at = utcnow()
    move(session, tenant, old, contribution(fact))
    return Applied(changed=True, comment_to_score=comment is not None)


def retract(session: Session, tenant: str, data: FeedbackRetracted) -> Applied:
    cells.lock_tenant(session, tenant)
    fact = session.get(FeedbackFact, (tenant, data.feedback_id))
    if fact is not None and fact.retracted_at is not None:
        return Applied()
    old = contribution(fact)
    if fact is None:  # retracted before we saw it: a tombstone, so it never comes in
        fact = FeedbackFact(tenant_id=tenant, feedback_id=data.feedback_id, revision=0)
        session.add(fact)
    fact.entry_id = data.entry_id
    fact.retracted_at = aware(data.retracted_at)
    fact.channel = None
    fact.satisfaction = None
    fact.importance = None
    fact.comment = None
    fact.submitted_at = None
    fact.day = None
    fact.updated_at = utcnow()
    move(session, tenant, old, None)
    session.execute(
        delete(CommentScore).where(
            CommentScore.tenant_id == tenant, CommentScore.feedback_id == data.feedback_id
        )
    )
    return Applied(changed=old is not None)
