"""Feedback: submit (one, or a batch for partners), list, read, history, retract, scores."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from citela_common.web import Problem, field_error
from citela_common.web.pagination import Page
from citela_common.web.params import TenantCode
from citela_feedback import feedbacks, queries, submissions, tenants
from citela_feedback.api.deps import (
    AnyPrincipal,
    Context,
    FeedbackReader,
    IdempotencyKey,
    IdPath,
    IntakeCaller,
    problems,
)
from citela_feedback.domain.moderation import ModerationStatus
from citela_feedback.metrics import RETRACTED
from citela_feedback.schemas import (
    BatchIn,
    BatchOut,
    FeedbackIn,
    FeedbackOut,
    RevisionOut,
    ScalesOut,
    ScoresOut,
    SubmittedOut,
)

router = APIRouter(prefix="/v1", tags=["avis"])


@router.post(
    "/tenants/{tenant}/feedback",
    status_code=201,
    response_model=SubmittedOut,
    summary="Give (or replace) one feedback on a catalogue entry",
    description=(
        "A citizen (Bearer token, confirmed email) or a partner app (X-API-Key with "
        "`feedback:write`, and `user_ref`). One author has one current feedback per entry: "
        "a new one replaces it (200, `revised`) and the history is kept; the very same "
        "content again changes nothing (200, `unchanged`). A partner app may date an answer "
        "it collected earlier (`collected_at`); one older than the author's current "
        "feedback on the entry is refused (409, `newer-feedback-exists`)."
    ),
    responses={
        200: {"model": SubmittedOut, "description": "replaced the author's feedback"},
        **problems(401, 403, 404, 409, 422, 429),
    },
)
async def submit(
    tenant: TenantCode,
    body: FeedbackIn,
    caller: IntakeCaller,
    ctx: Context,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await submissions.submit_one(ctx, tenant, body, caller, idempotency_key)


@router.post(
    "/tenants/{tenant}/feedback/batch",
    response_model=BatchOut,
    summary="Partner apps: submit up to 1,000 feedbacks; each is accepted or rejected",
    description=(
        "Partial success: the answer lists, for each item by its index, `accepted` (with "
        "the feedback id and whether it was submitted, revised or unchanged) or `rejected` "
        "with the reasons. The accepted ones are stored together, in one transaction. Items "
        "may carry `collected_at` (answers collected earlier, offline); one older than its "
        "author's current feedback on the entry is rejected (`older_than_current`)."
    ),
    responses=problems(401, 403, 404, 422, 429),
)
async def batch(
    tenant: TenantCode,
    body: BatchIn,
    caller: IntakeCaller,
    ctx: Context,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await run_in_threadpool(
        submissions.submit_batch, ctx, tenant, body, caller, idempotency_key
    )


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Problem(
            422,
            f"`{name}` needs a time zone (e.g. 2026-11-28T00:00:00+01:00).",
            slug="validation",
            errors=[field_error(f"query.{name}", "timezone required", "naive_datetime")],
        )
    return value


@router.get(
    "/tenants/{tenant}/feedback",
    response_model=Page[FeedbackOut],
    summary="Staff (and partner apps, their own): the tenant's feedback, newest first",
    responses=problems(400, 401, 403, 404, 422, 429),
)
def list_feedback(
    tenant: TenantCode,
    principal: FeedbackReader,
    ctx: Context,
    entry_id: Annotated[str | None, Query(max_length=250)] = None,
    channel: Annotated[str | None, Query(pattern="^(portal|partner)$")] = None,
    comment_status: ModerationStatus | None = None,
    with_comment: bool | None = None,
    satisfaction_min: Annotated[int | None, Query(ge=1, le=5)] = None,
    satisfaction_max: Annotated[int | None, Query(ge=1, le=5)] = None,
    importance_min: Annotated[int | None, Query(ge=1, le=5)] = None,
    importance_max: Annotated[int | None, Query(ge=1, le=5)] = None,
    submitted_from: datetime | None = None,
    submitted_to: datetime | None = None,
    include_retracted: bool = False,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[FeedbackOut]:
    wanted = queries.FeedbackFilter(
        entry_id=entry_id,
        channel=channel,
        comment_status=comment_status,
        with_comment=with_comment,
        satisfaction_min=satisfaction_min,
        satisfaction_max=satisfaction_max,
        importance_min=importance_min,
        importance_max=importance_max,
        submitted_from=_aware("submitted_from", submitted_from),
        submitted_to=_aware("submitted_to", submitted_to),
        include_retracted=include_retracted,
    )
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        return feedbacks.page(session, principal, tenant, wanted, cursor, limit)


@router.get(
    "/tenants/{tenant}/feedback/{feedback_id}",
    response_model=FeedbackOut,
    summary="One feedback: its author reads their own text, staff the redacted one",
    responses=problems(401, 403, 404, 422, 429),
)
def get_feedback(
    tenant: TenantCode, feedback_id: IdPath, principal: AnyPrincipal, ctx: Context
) -> FeedbackOut:
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        return feedbacks.one(session, principal, tenant, feedback_id)


@router.get(
    "/tenants/{tenant}/feedback/{feedback_id}/history",
    response_model=list[RevisionOut],
    summary="Every version the author submitted, oldest first",
    responses=problems(401, 403, 404, 422, 429),
)
def history(
    tenant: TenantCode, feedback_id: IdPath, principal: AnyPrincipal, ctx: Context
) -> list[RevisionOut]:
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        return feedbacks.history(session, principal, tenant, feedback_id)


@router.delete(
    "/tenants/{tenant}/feedback/{feedback_id}",
    status_code=204,
    summary="Retract one's own feedback (it stops counting)",
    responses=problems(401, 403, 404, 422, 429),
)
def retract(
    tenant: TenantCode, feedback_id: IdPath, principal: AnyPrincipal, ctx: Context
) -> Response:
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        done = feedbacks.retract_own(session, principal, tenant, feedback_id)
    if done:
        RETRACTED.labels(reason="author").inc()
    return Response(status_code=204)


@router.get(
    "/scales",
    response_model=ScalesOut,
    summary="The French labels of the 1–5 satisfaction and importance scales",
    tags=["référentiels"],
)
def scales() -> ScalesOut:
    return ScalesOut()


@router.get(
    "/tenants/{tenant}/scores",
    response_model=ScoresOut,
    summary="Public average scores of a catalogue entry, where the tenant publishes them",
    responses=problems(404, 422),
)
def scores(
    tenant: TenantCode,
    entry_id: Annotated[str, Query(min_length=1, max_length=250)],
    ctx: Context,
) -> ScoresOut:
    with tenants.scoped(ctx.db, tenant) as (session, row):
        return feedbacks.public_scores(session, row, entry_id)
