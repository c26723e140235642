"""Assembly of the analytics service: its store, three consumers, tasks, the HTTP app.

Consumers (each its own group, so each has its own lag):
- ``analytics-facts`` on ``citela.feedback``: facts and matrix sums, then scoring requested;
- ``analytics-catalogue`` on ``citela.catalogue``: analytics' projection of the entries;
- ``analytics-scores`` on ``citela.analytics``: the sentiment scores.
All are idempotent (``processed_events`` in the same transaction as the effect) and apply each
polled batch in one transaction; the cache is bumped, and scoring requested, once
per tenant and batch, after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from citela_analytics import api, facts, projection
from citela_analytics.metrics import COMMENTS_SCORED, MATRIX_UPDATE_SECONDS, SCORING_DELAY_SECONDS
from citela_analytics.models import SCHEMA, FeedbackFact, Outbox, ProcessedEvent
from citela_analytics.scoring import BackendHolder
from citela_analytics.tasks import ScoringTrigger, TaskGateway
from citela_common.bus import EventBus
from citela_common.cache import Cache, create_cache
from citela_common.db import Database, utcnow
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import (
    ANALYTICS_TOPIC,
    CATALOGUE_TOPIC,
    FEEDBACK_TOPIC,
    CommentScored,
)
from citela_common.outbox import idempotent_batch
from citela_common.runtime import ConsumerSpec, ServiceRuntime
from citela_common.settings import Settings
from citela_common.tenancy import scope_to_tenant

NAME = "analytics"
FACTS = "analytics-facts"
CATALOGUE = "analytics-catalogue"
SCORES = "analytics-scores"

ScoredKey = tuple[str, str, int]  # (tenant, feedback id, revision)


def facts_consumer(db: Database, cache: Cache, trigger: Callable[[str], None]) -> ConsumerSpec:
    def after(fresh: list[CloudEvent], outcomes: list[facts.Applied]) -> None:
        now = utcnow()
        changed: dict[str, None] = {}  # tenants, in order
        to_score: dict[str, None] = {}
        for event, applied in zip(fresh, outcomes, strict=True):
            if applied.changed:
                MATRIX_UPDATE_SECONDS.observe(max(0.0, (now - event.time).total_seconds()))
                changed[event.tenant] = None
            if applied.comment_to_score:
                to_score[event.tenant] = None
        for tenant in changed:
            cache.bump(tenant)
        for tenant in to_score:
            trigger(tenant)

    return ConsumerSpec.batched(
        [FEEDBACK_TOPIC],
        FACTS,
        idempotent_batch(db, ProcessedEvent, FACTS, facts.apply_batch, then=after),
    )


def catalogue_consumer(db: Database, cache: Cache) -> ConsumerSpec:
    def bump(_events: list[CloudEvent], changed: list[str]) -> None:
        for tenant in changed:
            cache.bump(tenant)

    return ConsumerSpec.batched(
        [CATALOGUE_TOPIC],
        CATALOGUE,
        idempotent_batch(
            db, ProcessedEvent, CATALOGUE, projection.apply_catalogue_batch, then=bump
        ),
    )


def scores_consumer(db: Database, cache: Cache) -> ConsumerSpec:
    """Sentiment scores, a polled batch per transaction: under load the Celery worker publishes
    a score per new comment, and one transaction each (five round trips) took the analytics
    process's time from the facts consumer."""

    def apply(session: Session, fresh: list[CloudEvent]) -> dict[ScoredKey, datetime]:
        """Store the scores; when each scored answer came in, for the metric."""
        wanted: dict[str, set[str]] = {}
        for event in fresh:
            projection.apply_score_event(session, event)
            wanted.setdefault(event.tenant, set()).add(event.data["feedback_id"])
        since: dict[ScoredKey, datetime] = {}
        for tenant, ids in wanted.items():
            scope_to_tenant(session, tenant)
            rows = session.execute(
                select(FeedbackFact.feedback_id, FeedbackFact.revision, FeedbackFact.event_time)
                .where(FeedbackFact.tenant_id == tenant)
                .where(FeedbackFact.feedback_id.in_(sorted(ids)))
            )
            for feedback_id, revision, event_time in rows:
                if event_time is not None:
                    since[(tenant, feedback_id, revision)] = event_time
        return since

    def after(fresh: list[CloudEvent], since: dict[ScoredKey, datetime]) -> None:
        now = utcnow()
        for event in fresh:
            data = CommentScored.model_validate(event.data)
            COMMENTS_SCORED.labels(backend=data.backend).inc()
            moment = since.get((event.tenant, data.feedback_id, data.revision))
            if moment is not None:
                SCORING_DELAY_SECONDS.labels(backend=data.backend).observe(
                    max(0.0, (now - moment).total_seconds())
                )
        for tenant in dict.fromkeys(event.tenant for event in fresh):
            cache.bump(tenant)

    def scored(event: CloudEvent) -> bool:
        return event.type == CommentScored.event_type

    return ConsumerSpec.batched(
        [ANALYTICS_TOPIC],
        SCORES,
        idempotent_batch(db, ProcessedEvent, SCORES, apply, then=after, only=scored),
    )


def build_runtime(settings: Settings, bus: EventBus) -> ServiceRuntime:
    db = Database(settings.resolved_database_url, SCHEMA)
    cache = create_cache(settings.redis_url, "citela:analytics")
    runtime: ServiceRuntime | None = None

    def current() -> ServiceRuntime:
        assert runtime is not None
        return runtime

    gateway = TaskGateway(settings, current)
    trigger = ScoringTrigger(gateway, settings.analytics_scoring_delay_s)
    runtime = ServiceRuntime(
        name=NAME,
        package="citela_analytics",
        settings=settings,
        db=db,
        bus=bus,
        outbox_model=Outbox,
        app_factory=api.create_app,
        context=None,
        consumers=[
            facts_consumer(db, cache, trigger),
            catalogue_consumer(db, cache),
            scores_consumer(db, cache),
        ],
        topics=[ANALYTICS_TOPIC],
        extras={
            "cache": cache,
            "backend": BackendHolder(settings),
            "tasks": gateway,
            "scoring_trigger": trigger,
        },
        on_stop=[trigger.close],
    )
    return runtime
