"""Moderation: the queue of held comments and decisions in bulk."""

# No `from __future__ import annotations`: FastAPI reads the route signatures, whose
# dependency aliases are local to router().

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from citela_common.auth import Permission, Principal, UserPrincipal
from citela_common.db import utcnow
from citela_common.web.pagination import Page
from citela_feedback import moderation_queue, queries
from citela_feedback.api.deps import TENANT_PATH, Deps, problems
from citela_feedback.domain.moderation import ModerationStatus
from citela_feedback.schemas import FeedbackOut, ModerationIn, ModerationOut
from citela_feedback.views import Reader, feedback_out

TenantPath = Annotated[str, Path(pattern=TENANT_PATH, description="code of the tenant")]


def router(deps: Deps) -> APIRouter:
    ctx = deps.ctx
    api = APIRouter(prefix="/v1/tenants/{tenant}/moderation", tags=["modération"])
    may_moderate = deps.auth.permission(Permission.FEEDBACK_MODERATE)
    Moderator = Annotated[Principal, Depends(may_moderate)]  # noqa: N806 - a type alias

    @api.get(
        "/queue",
        response_model=Page[FeedbackOut],
        summary="Comments waiting for a moderator (or hidden ones), oldest first",
        responses=problems(400, 401, 403, 404, 422),
    )
    def queue(
        tenant: TenantPath,
        _: Moderator,
        status: Annotated[
            ModerationStatus, Query(description="pending (default) or hidden")
        ] = ModerationStatus.PENDING,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> Page[FeedbackOut]:
        with deps.tenant_session(tenant) as (session, _row):
            rows, next_cursor = queries.page(
                session,
                queries.FeedbackFilter(comment_status=status),
                cursor,
                limit,
                newest_first=False,
            )
            return Page[FeedbackOut](
                items=[feedback_out(fb, Reader.MODERATOR) for fb in rows], next_cursor=next_cursor
            )

    @api.post(
        "/decisions",
        response_model=ModerationOut,
        summary="Approve, hide or retract feedbacks in bulk; a result for each",
        description=(
            "approve: the (redacted) comment is shared; hide: the comment's text never leaves "
            "the service but the scores still count; retract: the whole feedback stops counting."
        ),
        responses=problems(401, 403, 404, 422),
    )
    def decide(tenant: TenantPath, body: ModerationIn, principal: Moderator) -> ModerationOut:
        moderator = principal.account_id if isinstance(principal, UserPrincipal) else "partner"
        with deps.tenant_session(tenant) as (session, _row):
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

    return api
