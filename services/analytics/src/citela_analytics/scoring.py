"""Sentiment scoring of the stored comments, in batches, published through the outbox.

Pending: the current revision of a live feedback with a comment, and no score of the current
backend and model version. A batch is scored outside any transaction (a model may be slow),
then one transaction per batch stores each score and stages its ``comment.scored`` event. That
insert is the only write of a score: the event is published for other services, analytics does
not consume it back. A score whose row already exists (another worker got there first, a task
re-run after a crash) is neither stored again nor published again, so each feedback revision is
scored once per backend and model version. A revision that changed while it was being scored is
skipped: its new revision is pending in turn.

Rescoring after a model change is the same operation: every stored comment lacking a score of
the new model version is pending.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from citela_analytics.metrics import (
    COMMENTS_SCORED,
    SCORING_BATCH_SECONDS,
    SCORING_DELAY_SECONDS,
)
from citela_analytics.models import CommentScore, FeedbackFact, Outbox
from citela_analytics.projection import insert_score
from citela_analytics.sentiment import Score, SentimentBackend
from citela_analytics.sentiment.factory import create_backend
from citela_analytics.settings import AnalyticsSettings
from citela_common.db import Database, utcnow
from citela_common.events.models import ANALYTICS_TOPIC, CommentScored, SentimentLabel, make_event
from citela_common.logging import get_logger
from citela_common.outbox import add_event

log = get_logger(__name__)
SOURCE = "/citela/analytics"


def load_backend(settings: AnalyticsSettings) -> SentimentBackend:
    """The backend the configuration names (``sentiment.factory.create_backend``)."""
    return create_backend(settings)


class BackendHolder:
    """One backend per process, created on first use (a model loads once)."""

    def __init__(self, settings: AnalyticsSettings) -> None:
        self.settings = settings
        self._backend: SentimentBackend | None = None
        self._lock = threading.Lock()

    def get(self) -> SentimentBackend:
        with self._lock:
            if self._backend is None:
                self._backend = load_backend(self.settings)
            return self._backend


@dataclass(frozen=True)
class Pending:
    tenant: str
    feedback_id: str
    revision: int
    text: str


@dataclass
class ScoringResult:
    backend: str
    model_version: str
    scored: int = 0
    skipped: int = 0
    batches: int = 0
    tenants: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "model_version": self.model_version,
            "scored": self.scored,
            "skipped": self.skipped,
            "batches": self.batches,
            "tenants": sorted(self.tenants),
        }


def _unscored(backend: str, model_version: str) -> object:
    f, s = FeedbackFact, CommentScore
    return and_(
        f.retracted_at.is_(None),
        f.comment.is_not(None),
        ~exists().where(
            s.tenant_id == f.tenant_id,
            s.feedback_id == f.feedback_id,
            s.revision == f.revision,
            s.backend == backend,
            s.model_version == model_version,
        ),
    )


def pending(
    session: Session, backend: str, model_version: str, limit: int, tenant: str | None = None
) -> list[Pending]:
    f = FeedbackFact
    stmt = select(f.tenant_id, f.feedback_id, f.revision, f.comment).where(
        _unscored(backend, model_version)  # type: ignore[arg-type]
    )
    if tenant is not None:
        stmt = stmt.where(f.tenant_id == tenant)
    stmt = stmt.order_by(f.updated_at, f.tenant_id, f.feedback_id).limit(limit)
    return [Pending(r[0], r[1], int(r[2]), str(r[3])) for r in session.execute(stmt)]


def count_pending(
    session: Session, backend: str, model_version: str, tenant: str | None = None
) -> int:
    f = FeedbackFact
    stmt = select(func.count()).select_from(f).where(_unscored(backend, model_version))  # type: ignore[arg-type]
    if tenant is not None:
        stmt = stmt.where(f.tenant_id == tenant)
    return int(session.scalar(stmt) or 0)


def count_stale(
    session: Session, backend: str, model_version: str, tenant: str | None = None
) -> int:
    """Pending comments that do have a score, of another backend or model version."""
    f, s = FeedbackFact, CommentScore
    stmt = (
        select(func.count())
        .select_from(f)
        .where(
            _unscored(backend, model_version),  # type: ignore[arg-type]
            exists().where(
                s.tenant_id == f.tenant_id,
                s.feedback_id == f.feedback_id,
                s.revision == f.revision,
            ),
        )
    )
    if tenant is not None:
        stmt = stmt.where(f.tenant_id == tenant)
    return int(session.scalar(stmt) or 0)


def _checked(score: Score) -> tuple[SentimentLabel, float, float]:
    label = SentimentLabel(score.label)
    return label, min(1.0, max(-1.0, float(score.score))), min(1.0, max(0.0, score.confidence))


@dataclass
class Stored:
    """What one batch's transaction stored: how many, how many skipped, and when each stored
    revision's feedback event was created (for the scoring delay)."""

    stored: int = 0
    skipped: int = 0
    since: list[datetime] = field(default_factory=list)


def store_batch(
    session: Session,
    backend: SentimentBackend,
    batch: list[Pending],
    scores: list[Score],
    scored_at: datetime,
) -> Stored:
    """Store and stage the scores of one batch."""
    out = Stored()
    for item, score in zip(batch, scores, strict=True):
        fact = session.get(FeedbackFact, (item.tenant, item.feedback_id))
        if fact is None or fact.retracted_at is not None or fact.revision != item.revision:
            out.skipped += 1
            continue
        label, value, confidence = _checked(score)
        data = CommentScored(
            feedback_id=item.feedback_id,
            revision=item.revision,
            label=label,
            score=value,
            confidence=confidence,
            backend=backend.name,
            model_version=backend.model_version,
            scored_at=scored_at,
        )
        if not insert_score(session, item.tenant, data):
            out.skipped += 1  # already scored by this model version: never published twice
            continue
        event = make_event(data, tenant=item.tenant, source=SOURCE, subject=item.feedback_id)
        add_event(session, Outbox, ANALYTICS_TOPIC, event)
        out.stored += 1
        if fact.event_time is not None:
            out.since.append(fact.event_time)
    return out


def _observe(backend: str, stored: Stored) -> None:
    """Metrics of a committed batch."""
    COMMENTS_SCORED.labels(backend=backend).inc(stored.stored)
    now = utcnow()
    delay = SCORING_DELAY_SECONDS.labels(backend=backend)
    for moment in stored.since:
        delay.observe(max(0.0, (now - moment).total_seconds()))


def score_pending(
    db: Database,
    backend: SentimentBackend,
    *,
    tenant: str | None = None,
    batch_size: int = 64,
    max_batches: int | None = None,
    on_batch: Callable[[ScoringResult], None] | None = None,
) -> ScoringResult:
    """Score pending comments batch after batch until none is left (or ``max_batches``)."""
    result = ScoringResult(backend.name, backend.model_version)
    previous: set[tuple[str, str, int]] = set()
    while max_batches is None or result.batches < max_batches:
        with db.transaction() as session:
            batch = pending(session, backend.name, backend.model_version, batch_size, tenant)
        if not batch:
            break
        started = time.perf_counter()
        scores = backend.score([p.text for p in batch])
        SCORING_BATCH_SECONDS.labels(backend=backend.name).observe(time.perf_counter() - started)
        if len(scores) != len(batch):
            raise RuntimeError(
                f"backend {backend.name} returned {len(scores)} scores for {len(batch)} texts"
            )
        with db.transaction() as session:
            done = store_batch(session, backend, batch, scores, utcnow())
        _observe(backend.name, done)
        result.batches += 1
        result.scored += done.stored
        result.skipped += done.skipped
        result.tenants.update(p.tenant for p in batch)
        if on_batch is not None:
            on_batch(result)
        seen = {(p.tenant, p.feedback_id, p.revision) for p in batch}
        if done.stored == 0 and seen == previous:
            break  # no progress at all: leave it to the next run rather than spin
        previous = seen
    if result.scored:
        log.info("analytics.scored", **result.as_dict())
    return result
