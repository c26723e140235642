"""Lists of feedback for staff and partner apps: filters and cursor pagination."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from citela_common.web.pagination import decode_cursor, encode_cursor
from citela_common.web.problems import Problem, field_error
from citela_feedback.domain.moderation import ModerationStatus
from citela_feedback.models import Feedback


@dataclass(frozen=True)
class FeedbackFilter:
    entry_id: str | None = None
    channel: str | None = None
    comment_status: ModerationStatus | None = None
    satisfaction_min: int | None = None
    satisfaction_max: int | None = None
    importance_min: int | None = None
    importance_max: int | None = None
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    include_retracted: bool = False
    partner_app_id: str | None = None
    with_comment: bool | None = None


def _filtered(f: FeedbackFilter) -> Select[Feedback]:
    stmt = select(Feedback)
    if not f.include_retracted:
        stmt = stmt.where(Feedback.retracted_at.is_(None))
    if f.entry_id:
        stmt = stmt.where(Feedback.entry_id == f.entry_id)
    if f.channel:
        stmt = stmt.where(Feedback.channel == f.channel)
    if f.comment_status:
        stmt = stmt.where(Feedback.moderation_status == f.comment_status.value)
    if f.satisfaction_min is not None:
        stmt = stmt.where(Feedback.satisfaction >= f.satisfaction_min)
    if f.satisfaction_max is not None:
        stmt = stmt.where(Feedback.satisfaction <= f.satisfaction_max)
    if f.importance_min is not None:
        stmt = stmt.where(Feedback.importance >= f.importance_min)
    if f.importance_max is not None:
        stmt = stmt.where(Feedback.importance <= f.importance_max)
    if f.submitted_from is not None:
        stmt = stmt.where(Feedback.created_at >= f.submitted_from)
    if f.submitted_to is not None:
        stmt = stmt.where(Feedback.created_at < f.submitted_to)
    if f.partner_app_id is not None:
        stmt = stmt.where(Feedback.partner_app_id == f.partner_app_id)
    if f.with_comment is True:
        stmt = stmt.where(Feedback.comment.is_not(None))
    elif f.with_comment is False:
        stmt = stmt.where(Feedback.comment.is_(None))
    return stmt


def _after(cursor: str | None, newest_first: bool) -> list[ColumnElement[bool]]:
    if cursor is None:
        return []
    created_raw, last_id = decode_cursor(cursor, 2)
    try:
        created = datetime.fromisoformat(str(created_raw))
    except ValueError:
        raise Problem(
            400,
            "The cursor is not one this API returned.",
            slug="invalid-cursor",
            errors=[field_error("query.cursor", "malformed or foreign cursor")],
        ) from None
    if created.tzinfo is None:
        raise Problem(
            400,
            "The cursor is not one this API returned.",
            slug="invalid-cursor",
            errors=[field_error("query.cursor", "malformed or foreign cursor")],
        )
    if newest_first:
        return [
            or_(
                Feedback.created_at < created,
                and_(Feedback.created_at == created, Feedback.id < str(last_id)),
            )
        ]
    return [
        or_(
            Feedback.created_at > created,
            and_(Feedback.created_at == created, Feedback.id > str(last_id)),
        )
    ]


def page(
    session: Session,
    f: FeedbackFilter,
    cursor: str | None,
    limit: int,
    *,
    newest_first: bool = True,
) -> tuple[Sequence[Feedback], str | None]:
    stmt = _filtered(f).where(*_after(cursor, newest_first))
    if newest_first:
        stmt = stmt.order_by(Feedback.created_at.desc(), Feedback.id.desc())
    else:
        stmt = stmt.order_by(Feedback.created_at, Feedback.id)
    rows = session.scalars(stmt.limit(limit + 1)).all()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor([last.created_at.isoformat(), last.id])


def scores(session: Session, entry_id: str) -> tuple[int, float | None, float | None]:
    n, sat, imp = session.execute(
        select(func.count(), func.avg(Feedback.satisfaction), func.avg(Feedback.importance)).where(
            Feedback.entry_id == entry_id, Feedback.retracted_at.is_(None)
        )
    ).one()
    return (
        int(n),
        round(float(sat), 2) if sat is not None else None,
        round(float(imp), 2) if imp is not None else None,
    )
