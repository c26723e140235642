"""Assembly of the catalogue service: its store, the projection consumer, the HTTP app."""

from __future__ import annotations

from citela_catalogue import api
from citela_catalogue.context import CatalogueContext, read_sessions
from citela_catalogue.models import SCHEMA, Outbox, ProcessedEvent
from citela_catalogue.projection import apply_batch
from citela_common.bus import EventBus
from citela_common.cache import Cache, create_cache
from citela_common.db import Database
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import CATALOGUE_TOPIC
from citela_common.outbox import idempotent_batch
from citela_common.readiness import redis_check
from citela_common.runtime import ConsumerSpec, ServiceRuntime
from citela_common.settings import Settings

NAME = "catalogue"
PROJECTION = "catalogue-projection"


def projection_handler(db: Database, cache: Cache) -> ConsumerSpec:
    """The projection, one transaction per polled batch of events."""

    def bump(_events: list[CloudEvent], changed: list[str]) -> None:
        for tenant in changed:
            cache.bump(tenant)  # cached lists of this tenant are now stale

    return ConsumerSpec.batched(
        [CATALOGUE_TOPIC],
        PROJECTION,
        idempotent_batch(db, ProcessedEvent, PROJECTION, apply_batch, then=bump),
    )


def build_runtime(settings: Settings, bus: EventBus) -> ServiceRuntime[CatalogueContext]:
    db = Database(settings.resolved_database_url, SCHEMA)
    cache = create_cache(settings.redis_url, "citela:catalogue")
    runtime = ServiceRuntime(
        name=NAME,
        package="citela_catalogue",
        settings=settings,
        db=db,
        bus=bus,
        outbox_model=Outbox,
        app_factory=api.create_app,
        context=CatalogueContext(cache=cache, reading=read_sessions(db)),
        consumers=[projection_handler(db, cache)],
        topics=[CATALOGUE_TOPIC],
    )
    if settings.redis_url:
        runtime.readiness.add(redis_check(cache.ping))
    return runtime
