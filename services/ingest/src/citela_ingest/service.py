"""Assembly of the ingest service: database, bus, outbox relay, HTTP app."""

from __future__ import annotations

from citela_common.bus import EventBus
from citela_common.db import Database
from citela_common.events.models import CATALOGUE_TOPIC
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings, settings_for
from citela_ingest import api
from citela_ingest.context import IngestContext
from citela_ingest.models import SCHEMA, Outbox
from citela_ingest.settings import IngestSettings

NAME = "ingest"


def build_runtime(settings: Settings, bus: EventBus) -> ServiceRuntime[IngestContext]:
    return ServiceRuntime(
        name=NAME,
        package="citela_ingest",
        settings=settings,
        db=Database(settings.resolved_database_url, SCHEMA),
        bus=bus,
        outbox_model=Outbox,
        app_factory=api.create_app,
        context=IngestContext(settings_for(settings, IngestSettings)),
        topics=[CATALOGUE_TOPIC],
    )
