"""Assembly of the feedback service: database, bus, outbox relay, consumers, HTTP app."""

from __future__ import annotations

from citela_common.bus import EventBus
from citela_common.db import Database
from citela_common.events.models import FEEDBACK_TOPIC
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings
from citela_feedback import api
from citela_feedback.models import SCHEMA, Outbox

NAME = "feedback"


def build_runtime(settings: Settings, bus: EventBus) -> ServiceRuntime:
    return ServiceRuntime(
        name=NAME,
        package="citela_feedback",
        settings=settings,
        db=Database(settings.resolved_database_url, SCHEMA),
        bus=bus,
        outbox_model=Outbox,
        app_factory=api.create_app,
        topics=[FEEDBACK_TOPIC],
    )
