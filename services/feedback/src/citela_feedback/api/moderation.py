"""Moderation: the queue of held comments and decisions in bulk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from citela_common.auth import UserPrincipal
from citela_common.db import utcnow
from citela_common.web.pagination import Page
from citela_common.web.params import TenantCode
from citela_feedback import moderation_queue, tenants
from citela_feedback.api.deps import Context, Moderator, problems
from citela_feedback.domain.moderation import ModerationStatus
from citela_feedback.schemas import FeedbackOut, ModerationIn, ModerationOut

router = APIRouter(prefix="/v1/tenants/{tenant}/moderation", tags=["modération"])


@router.get(
    "/queue",
    response_model=Page[FeedbackOut],
    summary="Comments waiting for a moderator (or hidden ones), oldest first",
    responses=problems(400, 401, 403, 404, 422),
)
def queue(
    tenant: TenantCode,
    _: Moderator,
    ctx: Context,
    status: Annotated[
        ModerationStatus, Query(description="pending (default) or hidden")
    ] = ModerationStatus.PENDING,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[FeedbackOut]:
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        return moderation_queue.page(session, status, cursor, limit)


@router.post(
    "/decisions",
    response_model=ModerationOut,
    summary="Approve, hide or retract feedbacks in bulk; a result for each",
    description=(
        "approve: the (redacted) comment is shared; hide: the comment's text never leaves "
        "the service but the scores still count; retract: the whole feedback stops counting."
    ),
    responses=problems(401, 403, 404, 422),
)
def decide(
    tenant: TenantCode, body: ModerationIn, principal: Moderator, ctx: Context
) -> ModerationOut:
    moderator = principal.account_id if isinstance(principal, UserPrincipal) else "partner"
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        results = moderation_queue.decide(
            session,
            action=body.action,
            feedback_ids=body.feedback_ids,
            moderator=moderator,
            note=body.note,
            secret=ctx.secret,
            now=utcnow(),
        )
    moderation_queue.record_metrics(body.action, results)
    return ModerationOut(results=results)
