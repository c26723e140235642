"""The events the feedback service publishes, built from its rows, staged in its outbox.

Only what may leave the service goes in: the redacted comment, and only while it is visible
(a pending or hidden comment travels as null); the author as a pseudonymous reference.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from citela_common.events.models import (
    FEEDBACK_TOPIC,
    Channel,
    FeedbackRetracted,
    FeedbackRevised,
    FeedbackSubmitted,
    make_event,
)
from citela_common.outbox import add_event
from citela_feedback.domain.moderation import ModerationStatus
from citela_feedback.domain.pseudonyms import author_ref
from citela_feedback.models import Feedback, Outbox

SOURCE = "/citela/feedback"


def public_comment(feedback: Feedback) -> str | None:
    if feedback.moderation_status != ModerationStatus.VISIBLE.value:
        return None
    return feedback.comment_redacted


def stage_current(session: Session, feedback: Feedback, secret: str, *, first: bool) -> None:
    """Stage ``submitted`` (first version) or ``revised`` (any later state) of a feedback."""
    model = FeedbackSubmitted if first else FeedbackRevised
    data = model(
        feedback_id=feedback.id,
        entry_id=feedback.entry_id,
        author_ref=author_ref(secret, feedback.tenant_id, feedback.author_key),
        channel=Channel(feedback.channel),
        satisfaction=feedback.satisfaction,
        importance=feedback.importance,
        comment=public_comment(feedback),
        revision=feedback.revision,
        submitted_at=feedback.submitted_at,
    )
    event = make_event(data, tenant=feedback.tenant_id, source=SOURCE, subject=feedback.id)
    add_event(session, Outbox, FEEDBACK_TOPIC, event)


def stage_retracted(session: Session, feedback: Feedback, reason: str, at: datetime) -> None:
    data = FeedbackRetracted(
        feedback_id=feedback.id,
        entry_id=feedback.entry_id,
        retracted_at=at,
        reason=reason,
    )
    event = make_event(data, tenant=feedback.tenant_id, source=SOURCE, subject=feedback.id)
    add_event(session, Outbox, FEEDBACK_TOPIC, event)
