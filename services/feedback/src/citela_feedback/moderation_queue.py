"""The moderators' queue and their decisions, one by one or in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from citela_common.web.pagination import Page
from citela_feedback import events, queries
from citela_feedback.domain.moderation import ModerationAction, ModerationStatus, after
from citela_feedback.intake import retract
from citela_feedback.metrics import MODERATION_ACTIONS, RETRACTED
from citela_feedback.models import Feedback
from citela_feedback.schemas import FeedbackOut, ModerationItemOut
from citela_feedback.views import Reader, feedback_out


def page(
    session: Session, status: ModerationStatus, cursor: str | None, limit: int
) -> Page[FeedbackOut]:
    """Comments in ``status`` (pending: waiting for a moderator), oldest first."""
    rows, next_cursor = queries.page(
        session, queries.FeedbackFilter(comment_status=status), cursor, limit, newest_first=False
    )
    return Page[FeedbackOut](
        items=[feedback_out(fb, Reader.MODERATOR) for fb in rows], next_cursor=next_cursor
    )


def decide(
    session: Session,
    *,
    action: ModerationAction,
    feedback_ids: Sequence[str],
    moderator: str,
    note: str | None,
    secret: str,
    now: datetime,
) -> list[ModerationItemOut]:
    """Apply one decision to many feedbacks (the session is scoped to the tenant)."""
    found = {
        fb.id: fb
        for fb in session.scalars(
            select(Feedback).where(
                Feedback.id.in_(sorted(set(feedback_ids))), Feedback.retracted_at.is_(None)
            )
        )
    }
    results: list[ModerationItemOut] = []
    for fid in dict.fromkeys(feedback_ids):
        fb = found.get(fid)
        if fb is None:
            results.append(ModerationItemOut(feedback_id=fid, result="not_found"))
            continue
        status = ModerationStatus(fb.moderation_status)
        if action is ModerationAction.RETRACT:
            fb.moderation_note = note
            fb.moderated_by = moderator
            fb.moderated_at = now
            retract(session, fb, "moderation", now)
            results.append(ModerationItemOut(feedback_id=fid, result="done", comment_status=status))
            continue
        new = after(action, status)
        if new is None:
            results.append(
                ModerationItemOut(feedback_id=fid, result="not_applicable", comment_status=status)
            )
            continue
        if new is status:
            results.append(
                ModerationItemOut(feedback_id=fid, result="unchanged", comment_status=status)
            )
            continue
        shared_before = events.public_comment(fb)
        fb.moderation_status = new.value
        fb.moderation_note = note
        fb.moderated_by = moderator
        fb.moderated_at = now
        if events.public_comment(fb) != shared_before:
            # What consumers hold changes: they get the new state as a revision.
            fb.revision += 1
            events.stage_current(session, fb, secret, first=False)
        results.append(ModerationItemOut(feedback_id=fid, result="done", comment_status=new))
    return results


def count_done(results: Sequence[ModerationItemOut]) -> int:
    return sum(1 for r in results if r.result == "done")


def record_metrics(action: ModerationAction, results: Sequence[ModerationItemOut]) -> None:
    done = count_done(results)
    if done:
        MODERATION_ACTIONS.labels(action=action.value, by="moderator").inc(done)
        if action is ModerationAction.RETRACT:
            RETRACTED.labels(reason="moderation").inc(done)
