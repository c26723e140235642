"""What the feedback service tells a reconciliation: its own count of answers, and the events
of given feedbacks staged again.

An answer is a current feedback (not retracted) of an entry: what the analytics matrix counts.
Republishing stages, for each feedback named, the event of its state now (``revised`` with its
current revision, or ``retracted``) into the outbox: consumers apply it if they missed it and
skip it otherwise (their processed-event marks, and a revision no newer than theirs).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citela_feedback import events
from citela_feedback.models import Feedback

MAX_IDS = 1000  # feedbacks per republish call


def answer_counts(session: Session, tenant: str) -> dict[str, int]:
    """The current answers of ``tenant``, per catalogue entry."""
    rows = session.execute(
        select(Feedback.entry_id, func.count())
        .where(Feedback.tenant_id == tenant, Feedback.retracted_at.is_(None))
        .group_by(Feedback.entry_id)
    )
    return {entry: int(count) for entry, count in rows}


def answer_revisions(session: Session, tenant: str, entry_id: str) -> dict[str, int]:
    """The current feedbacks of one entry: their id and current revision."""
    rows = session.execute(
        select(Feedback.id, Feedback.revision).where(
            Feedback.tenant_id == tenant,
            Feedback.entry_id == entry_id,
            Feedback.retracted_at.is_(None),
        )
    )
    return {feedback_id: int(revision) for feedback_id, revision in rows}


def republish(session: Session, tenant: str, feedback_ids: Sequence[str], secret: str) -> int:
    """Stage the current event of each named feedback of ``tenant``; returns how many."""
    found = session.scalars(
        select(Feedback).where(Feedback.tenant_id == tenant, Feedback.id.in_(list(feedback_ids)))
    ).all()
    for feedback in found:
        if feedback.retracted_at is not None:
            events.stage_retracted(
                session, feedback, feedback.retraction_reason or "author", feedback.retracted_at
            )
        else:
            events.stage_current(session, feedback, secret, first=feedback.revision == 1)
    return len(found)
