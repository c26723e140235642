"""Assembly of the analytics service: its store, two consumers, tasks, the HTTP app.

Consumers (each its own group, so each has its own lag):
- ``analytics-facts`` on ``citela.feedback``: facts and matrix sums, then scoring requested;
- ``analytics-catalogue`` on ``citela.catalogue``: analytics' projection of the entries.
The sentiment scores are stored by the scorer itself (scoring.py), in the transaction that
stages their ``comment.scored`` events: analytics publishes that event for others and does not
consume it back. Both consumers are idempotent (``processed_events`` in the same transaction as
the effect) and apply each polled batch in one transaction; the cache is bumped, and scoring
requested, once per tenant and batch, after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from citela_analytics import api, facts, projection, tasks
from citela_analytics.context import AnalyticsContext
from citela_analytics.gateway import ScoringTrigger, TaskGateway
from citela_analytics.metrics import MATRIX_UPDATE_SECONDS
from citela_analytics.models import SCHEMA, Outbox, ProcessedEvent
from citela_analytics.reads import SharedReads
from citela_analytics.scoring import BackendHolder
from citela_analytics.settings import AnalyticsSettings
from citela_common.auth import Authenticator, TokenService
from citela_common.bus import EventBus, create_bus
from citela_common.cache import Cache, create_cache
from citela_common.db import Database, utcnow
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import (
    ANALYTICS_TOPIC,
    CATALOGUE_TOPIC,
    FEEDBACK_TOPIC,
)
from citela_common.outbox import idempotent_batch
from citela_common.readiness import redis_check
from citela_common.runtime import ConsumerSpec, ServiceRuntime
from citela_common.settings import Settings, get_settings, settings_for

NAME = "analytics"
FACTS = "analytics-facts"
CATALOGUE = "analytics-catalogue"


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


def build_runtime(settings: Settings, bus: EventBus) -> ServiceRuntime[AnalyticsContext]:
    own = settings_for(settings, AnalyticsSettings)
    db = Database(own.resolved_database_url, SCHEMA)
    cache = create_cache(own.redis_url, "citela:analytics")
    runtime: ServiceRuntime[AnalyticsContext] | None = None

    def current() -> ServiceRuntime[AnalyticsContext]:
        assert runtime is not None
        return runtime

    gateway = TaskGateway(own, lambda app: tasks.register(app, own, current))
    trigger = ScoringTrigger(gateway, own.analytics_scoring_delay_s)
    context = AnalyticsContext(
        settings=own,
        cache=cache,
        backend=BackendHolder(own),
        tasks=gateway,
        scoring_trigger=trigger,
        auth=Authenticator(TokenService(own)),
        reads=SharedReads(own.analytics_min_answers),
    )
    runtime = ServiceRuntime(
        name=NAME,
        package="citela_analytics",
        settings=own,
        db=db,
        bus=bus,
        outbox_model=Outbox,
        app_factory=api.create_app,
        context=context,
        consumers=[
            facts_consumer(db, cache, trigger),
            catalogue_consumer(db, cache),
        ],
        topics=[ANALYTICS_TOPIC],
        on_stop=[trigger.close],
    )
    if own.redis_url:  # its cache and the Celery broker (scoring, reports)
        runtime.readiness.add(redis_check(cache.ping))
    return runtime


@lru_cache(maxsize=1)
def worker_runtime() -> ServiceRuntime[AnalyticsContext]:
    """The analytics runtime of a Celery worker process (no consumers, no HTTP): what its
    tasks run against (``tasks.register``)."""
    settings = get_settings()
    runtime = build_runtime(settings, create_bus(settings))
    runtime.migrate()
    return runtime
