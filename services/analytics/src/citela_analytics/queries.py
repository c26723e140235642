"""Read side: a tenant's settings, its services, its matrix over a period, its comments.

Every function takes a session scoped to the tenant and filters by it explicitly as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from citela_analytics import cells
from citela_analytics.domain.explain import Comment
from citela_analytics.domain.matrix import (
    CrosshairMode,
    EntryInfo,
    Matrix,
    MatrixSettings,
    build_matrix,
)
from citela_analytics.models import CatalogueEntry, CommentScore, FeedbackFact, TenantSettings
from citela_common.db import utcnow
from citela_common.events.models import SentimentLabel

BACKGROUND_COMMENTS = 3000  # other comments a theme is contrasted with (most recent first)


@dataclass(frozen=True)
class Period:
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class Service:
    entry_id: str
    title: str
    policy_area: str | None
    territory_codes: frozenset[str]
    removed: bool


def matrix_settings(session: Session, tenant: str, default_min_answers: int) -> MatrixSettings:
    row = session.get(TenantSettings, tenant)
    if row is None:
        return MatrixSettings(CrosshairMode.GRAND_MEANS, default_min_answers)
    return MatrixSettings(CrosshairMode(row.crosshair_mode), row.min_answers)


def services(session: Session, tenant: str) -> dict[str, Service]:
    rows = session.scalars(select(CatalogueEntry).where(CatalogueEntry.tenant_id == tenant))
    return {
        e.entry_id: Service(
            entry_id=e.entry_id,
            title=e.title,
            policy_area=e.policy_area,
            territory_codes=frozenset([*e.commune_codes, *e.epci_codes, *e.departement_codes]),
            removed=e.removed_at is not None,
        )
        for e in rows
    }


def matrix(
    session: Session,
    tenant: str,
    period: Period,
    settings: MatrixSettings,
    *,
    territory: str | None = None,
) -> tuple[Matrix, dict[str, Service]]:
    """The matrix over ``period``; with ``territory``, only the services located there."""
    known = services(session, tenant)
    sums = cells.sums_by_entry(session, tenant, period.start, period.end)
    if territory is not None:
        sums = {
            k: s for k, s in sums.items() if k in known and territory in known[k].territory_codes
        }
    infos = {k: EntryInfo(s.title, s.policy_area) for k, s in known.items()}
    return build_matrix(sums, infos, settings), known


def answers(session: Session, tenant: str) -> int:
    f = FeedbackFact
    return int(
        session.scalar(
            select(func.count())
            .select_from(f)
            .where(f.tenant_id == tenant, f.retracted_at.is_(None))
        )
        or 0
    )


def comments(
    session: Session, tenant: str, period: Period, entry_ids: Iterable[str]
) -> list[Comment]:
    """The comments of these services' current feedbacks, each with its latest score."""
    f, s = FeedbackFact, CommentScore
    ids = list(entry_ids)
    if not ids:
        return []
    # One query: each comment with its scores (none, or one per backend and model version).
    stmt = (
        select(
            f.feedback_id,
            f.comment,
            f.submitted_at,
            s.label,
            s.score,
            s.confidence,
            s.scored_at,
        )
        .outerjoin(
            s,
            and_(
                s.tenant_id == f.tenant_id,
                s.feedback_id == f.feedback_id,
                s.revision == f.revision,
            ),
        )
        .where(
            f.tenant_id == tenant,
            f.entry_id.in_(ids),
            f.retracted_at.is_(None),
            f.comment.is_not(None),
        )
    )
    if period.start is not None:
        stmt = stmt.where(f.day >= period.start)
    if period.end is not None:
        stmt = stmt.where(f.day <= period.end)
    stmt = stmt.order_by(f.submitted_at, f.feedback_id)
    found: dict[str, Comment] = {}
    latest: dict[str, datetime] = {}
    for feedback_id, text, submitted_at, label, score, confidence, scored_at in session.execute(
        stmt
    ):
        if feedback_id in found and (scored_at is None or scored_at <= latest[feedback_id]):
            continue
        if scored_at is not None:
            latest[feedback_id] = scored_at
        found[feedback_id] = Comment(
            feedback_id=feedback_id,
            text=text or "",
            submitted_at=submitted_at or utcnow(),
            label=SentimentLabel(label) if label is not None else None,
            score=score,
            confidence=confidence,
        )
    return list(found.values())


@dataclass(frozen=True)
class RecentComments:
    """The tenant's most recent comments of a period, (entry id, text), newest first."""

    rows: list[tuple[str, str]]
    complete: bool  # no other comment in the period

    def others(self, excluded: Iterable[str]) -> list[str] | None:
        """What ``other_comments`` would answer, or None when these rows may not hold it."""
        skip = set(excluded)
        out = [text for entry_id, text in self.rows if entry_id not in skip]
        if len(out) < BACKGROUND_COMMENTS and not self.complete:
            return None
        return out[:BACKGROUND_COMMENTS]


def recent_comments(
    session: Session, tenant: str, period: Period, limit: int = 2 * BACKGROUND_COMMENTS
) -> RecentComments:
    """One read for the backgrounds of several explanations (a page explains ten services)."""
    f = FeedbackFact
    stmt = select(f.entry_id, f.comment).where(
        f.tenant_id == tenant, f.retracted_at.is_(None), f.comment.is_not(None)
    )
    if period.start is not None:
        stmt = stmt.where(f.day >= period.start)
    if period.end is not None:
        stmt = stmt.where(f.day <= period.end)
    stmt = stmt.order_by(f.submitted_at.desc(), f.feedback_id.desc()).limit(limit)
    rows = [(str(e), str(t)) for e, t in session.execute(stmt)]
    return RecentComments(rows, complete=len(rows) < limit)


def other_comments(
    session: Session, tenant: str, period: Period, excluded: Iterable[str]
) -> list[str]:
    """Texts of the tenant's comments on other services (the most recent ones)."""
    f = FeedbackFact
    stmt = select(f.comment).where(
        f.tenant_id == tenant,
        f.retracted_at.is_(None),
        f.comment.is_not(None),
        f.entry_id.not_in(list(excluded)),
    )
    if period.start is not None:
        stmt = stmt.where(f.day >= period.start)
    if period.end is not None:
        stmt = stmt.where(f.day <= period.end)
    stmt = stmt.order_by(f.submitted_at.desc(), f.feedback_id.desc()).limit(BACKGROUND_COMMENTS)
    return [str(t) for t in session.scalars(stmt)]
