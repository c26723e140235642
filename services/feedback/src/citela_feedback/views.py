"""How a feedback reads, depending on who reads it.

- its author (the citizen, or the partner app that posted it for its user): the original text;
- staff: the redacted text, and for a pending or hidden comment only moderators see it;
- nobody else reads a feedback at all.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from citela_feedback.domain.moderation import ModerationStatus
from citela_feedback.domain.scales import IMPORTANCE_LABELS, SATISFACTION_LABELS
from citela_feedback.intake import FeedbackState
from citela_feedback.models import Feedback, FeedbackRevision
from citela_feedback.schemas import FeedbackOut, Outcome, RevisionOut, SubmittedOut


class Reader(StrEnum):
    AUTHOR = "author"
    MODERATOR = "moderator"
    STAFF = "staff"


def comment_for(
    feedback: Feedback | FeedbackRevision | FeedbackState, reader: Reader, status: str
) -> str | None:
    if reader is Reader.AUTHOR:
        return feedback.comment
    if reader is Reader.MODERATOR or status == ModerationStatus.VISIBLE.value:
        return feedback.comment_redacted
    return None


def _fields(feedback: Feedback | FeedbackState, reader: Reader) -> dict[str, Any]:
    return {
        "id": feedback.id,
        "tenant": feedback.tenant_id,
        "entry_id": feedback.entry_id,
        "satisfaction": feedback.satisfaction,
        "satisfaction_label": SATISFACTION_LABELS[feedback.satisfaction],
        "importance": feedback.importance,
        "importance_label": IMPORTANCE_LABELS[feedback.importance],
        "comment": comment_for(feedback, reader, feedback.moderation_status),
        "comment_status": ModerationStatus(feedback.moderation_status),
        "channel": feedback.channel,
        "user_ref": feedback.partner_user_ref if reader is Reader.AUTHOR else None,
        "revision": feedback.revision,
        "submitted_at": feedback.submitted_at,
        "created_at": feedback.created_at,
        "updated_at": feedback.updated_at,
        "retracted_at": feedback.retracted_at,
        "moderation_flags": feedback.moderation_flags if reader is Reader.MODERATOR else None,
    }


def feedback_out(feedback: Feedback | FeedbackState, reader: Reader) -> FeedbackOut:
    return FeedbackOut(**_fields(feedback, reader))


def submitted_out(feedback: Feedback | FeedbackState, outcome: Outcome) -> SubmittedOut:
    """What its author reads back after posting it."""
    return SubmittedOut(**_fields(feedback, Reader.AUTHOR), outcome=outcome)


def revision_out(rev: FeedbackRevision, reader: Reader, current: Feedback) -> RevisionOut:
    # Moderation decides on the current text only: staff who are not moderators read the
    # current version's text when it is visible, and no replaced version's text.
    status = current.moderation_status if rev.replaced_at is None else ModerationStatus.HIDDEN
    return RevisionOut(
        revision=rev.revision,
        satisfaction=rev.satisfaction,
        importance=rev.importance,
        comment=comment_for(rev, reader, status),
        channel=rev.channel,
        submitted_at=rev.submitted_at,
        received_at=rev.received_at,
        replaced_at=rev.replaced_at,
    )
