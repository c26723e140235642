"""Assembly of the analytics service: database, bus, outbox relay, consumers, HTTP app."""

from __future__ import annotations

from citela_analytics import api
from citela_analytics.models import SCHEMA, Outbox
from citela_common.bus import EventBus
from citela_common.db import Database
from citela_common.events.models import ANALYTICS_TOPIC
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings

NAME = "analytics"


def build_runtime(settings: Settings, bus: EventBus) -> ServiceRuntime:
    return ServiceRuntime(
        name=NAME,
        package="citela_analytics",
        settings=settings,
        db=Database(settings.resolved_database_url, SCHEMA),
        bus=bus,
        outbox_model=Outbox,
        app_factory=api.create_app,
        topics=[ANALYTICS_TOPIC],
    )
