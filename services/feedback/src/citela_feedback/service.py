"""Assembly of the feedback service: database, bus, outbox relay, catalogue read model, HTTP app."""

from __future__ import annotations

from functools import partial

from fastapi import Request

from citela_common.auth import Authenticator, PartnerPrincipal, PasswordHasher, TokenService
from citela_common.bus import EventBus
from citela_common.db import Database
from citela_common.events.models import FEEDBACK_TOPIC
from citela_common.readiness import redis_check
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings, settings_for
from citela_feedback import api, quotas, submitting
from citela_feedback.context import FeedbackContext
from citela_feedback.group_commit import GroupCommitter
from citela_feedback.lookups import Lookups
from citela_feedback.mailer import create_mailer
from citela_feedback.models import SCHEMA, Outbox
from citela_feedback.partners import KeyResolver
from citela_feedback.ratelimit import create_rate_limiter
from citela_feedback.readmodel import projection
from citela_feedback.settings import FeedbackSettings

NAME = "feedback"


def build_context(settings: FeedbackSettings, db: Database) -> FeedbackContext:
    tokens = TokenService(settings)
    limiter = create_rate_limiter(settings.redis_url)

    def count_partner(_request: Request, partner: PartnerPrincipal) -> None:
        quotas.limit(limiter, partner)

    context = FeedbackContext(
        settings=settings,
        db=db,
        tokens=tokens,
        passwords=PasswordHasher(settings),
        mailer=create_mailer(settings),
        limiter=limiter,
        lookups=Lookups(db, settings.partner_rate_limit_per_minute),
        auth=Authenticator(tokens, KeyResolver(db, settings), on_partner=count_partner),
    )
    context.committer = GroupCommitter(
        partial(submitting.run_group, context),
        # A group's quotas in one round trip, before its transaction.
        screen=lambda group: quotas.limit_many(limiter, [p.caller.principal for p in group]),
        flushes=settings.feedback_group_commit_flushes,
        max_group=settings.feedback_group_commit_max,
    )
    return context


def build_runtime(settings: Settings, bus: EventBus) -> ServiceRuntime[FeedbackContext]:
    own = settings_for(settings, FeedbackSettings)
    db = Database(own.resolved_database_url, SCHEMA)
    runtime = ServiceRuntime(
        name=NAME,
        package="citela_feedback",
        settings=own,
        db=db,
        bus=bus,
        outbox_model=Outbox,
        app_factory=api.create_app,
        consumers=[projection(db)],
        topics=[FEEDBACK_TOPIC],
        context=build_context(own, db),
    )
    if own.redis_url:  # the partner quotas (in process while it is down)
        runtime.readiness.add(redis_check(runtime.context.limiter.ping))
    return runtime
