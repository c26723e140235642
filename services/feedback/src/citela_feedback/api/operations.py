"""What operators (and the analytics reconciliation, with an operator token) ask the feedback
service about its answers: /v1/ops/tenants/{tenant}/…"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from citela_common.tenancy import scope_to_tenant
from citela_common.web.params import TenantCode
from citela_feedback import reconciliation
from citela_feedback.api.deps import Context, Operator, problems

router = APIRouter(prefix="/v1/ops/tenants/{tenant}", tags=["exploitation"])


class AnswerCountsOut(BaseModel):
    tenant: str
    answers: int = Field(description="current (not retracted) feedbacks of the tenant")
    entries: dict[str, int] = Field(description="current feedbacks per catalogue entry id")


class AnswerRevisionsOut(BaseModel):
    tenant: str
    entry_id: str
    feedbacks: dict[str, int] = Field(description="current feedback id -> its revision")


class RepublishIn(BaseModel):
    feedback_ids: list[str] = Field(min_length=1, max_length=reconciliation.MAX_IDS)


class RepublishOut(BaseModel):
    tenant: str
    republished: int


@router.get(
    "/answer-counts",
    response_model=AnswerCountsOut,
    summary="The tenant's current answers per entry (platform operators)",
    responses=problems(401, 403),
)
def answer_counts(tenant: TenantCode, _: Operator, ctx: Context) -> AnswerCountsOut:
    with ctx.db.transaction() as session:
        scope_to_tenant(session, tenant)
        entries = reconciliation.answer_counts(session, tenant)
    return AnswerCountsOut(tenant=tenant, answers=sum(entries.values()), entries=entries)


@router.get(
    "/answers",
    response_model=AnswerRevisionsOut,
    summary="The current feedbacks of one entry and their revision (platform operators)",
    responses=problems(401, 403),
)
def answer_revisions(
    tenant: TenantCode,
    entry_id: Annotated[str, Query(min_length=1, max_length=250)],
    _: Operator,
    ctx: Context,
) -> AnswerRevisionsOut:
    with ctx.db.transaction() as session:
        scope_to_tenant(session, tenant)
        found = reconciliation.answer_revisions(session, tenant, entry_id)
    return AnswerRevisionsOut(tenant=tenant, entry_id=entry_id, feedbacks=found)


@router.post(
    "/republish",
    response_model=RepublishOut,
    summary="Publish again the current event of given feedbacks (platform operators)",
    responses=problems(401, 403, 422),
)
def republish(tenant: TenantCode, body: RepublishIn, _: Operator, ctx: Context) -> RepublishOut:
    with ctx.db.transaction() as session:
        scope_to_tenant(session, tenant)
        count = reconciliation.republish(session, tenant, body.feedback_ids, ctx.secret)
    return RepublishOut(tenant=tenant, republished=count)
