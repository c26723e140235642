"""Assembly of the catalogue service: its store, the projection consumer, the HTTP app."""

from __future__ import annotations

from citela_catalogue import api
from citela_catalogue.models import SCHEMA, Outbox, ProcessedEvent
from citela_catalogue.projection import apply_event
from citela_common.bus import EventBus
from citela_common.cache import Cache, create_cache
from citela_common.db import Database
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import CATALOGUE_TOPIC
from citela_common.outbox import first_delivery
from citela_common.runtime import ConsumerSpec, ServiceRuntime
from citela_common.settings import Settings

NAME = "catalogue"
PROJECTION = "catalogue-projection"


def projection_handler(db: Database, cache: Cache) -> ConsumerSpec:
    def handle(event: CloudEvent) -> None:
        with db.transaction() as session:
            changed = first_delivery(session, ProcessedEvent, PROJECTION, event.id) and apply_event(
                session, event
            )
        if changed:
            cache.bump(event.tenant)  # cached lists of this tenant are now stale

    return ConsumerSpec([CATALOGUE_TOPIC], PROJECTION, handle)


def build_runtime(settings: Settings, bus: EventBus) -> ServiceRuntime:
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
        consumers=[projection_handler(db, cache)],
        topics=[CATALOGUE_TOPIC],
        extras={"cache": cache},
    )
    return runtime
