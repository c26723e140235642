"""Assembly of the feedback service: database, bus, outbox relay, catalogue read model, HTTP app."""

from __future__ import annotations

from citela_common.auth import PasswordHasher, TokenService
from citela_common.bus import EventBus
from citela_common.db import Database
from citela_common.events.models import FEEDBACK_TOPIC
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings
from citela_feedback import api
from citela_feedback.context import FeedbackContext
from citela_feedback.lookups import Lookups
from citela_feedback.mailer import create_mailer
from citela_feedback.models import SCHEMA, Outbox
from citela_feedback.ratelimit import create_rate_limiter
from citela_feedback.readmodel import projection

NAME = "feedback"


def build_context(settings: Settings, db: Database) -> FeedbackContext:
    return FeedbackContext(
        settings=settings,
        db=db,
        tokens=TokenService(settings),
        passwords=PasswordHasher(settings),
        mailer=create_mailer(settings),
        limiter=create_rate_limiter(settings.redis_url),
        lookups=Lookups(db, settings.partner_rate_limit_per_minute),
    )


def build_runtime(settings: Settings, bus: EventBus) -> ServiceRuntime:
    db = Database(settings.resolved_database_url, SCHEMA)
    context = build_context(settings, db)
    return ServiceRuntime(
        name=NAME,
        package="citela_feedback",
        settings=settings,
        db=db,
        bus=bus,
        outbox_model=Outbox,
        app_factory=api.create_app,
        consumers=[projection(db)],
        topics=[FEEDBACK_TOPIC],
        context=context,
        extras={"feedback": context},
    )
