"""A tenant's feedback as one principal reads and changes it: who reads what (its author their
own text, moderators and staff the redacted one), a page, one feedback and its history, the
author's retraction, and the public averages of an entry."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from citela_common.auth import PartnerPrincipal, Permission, Principal, forbidden
from citela_common.db import utcnow
from citela_common.web import Problem
from citela_common.web.pagination import Page
from citela_feedback import intake, queries
from citela_feedback.domain.rules import TenantRules
from citela_feedback.models import Feedback, FeedbackRevision, Tenant
from citela_feedback.schemas import FeedbackOut, RevisionOut, ScoresOut
from citela_feedback.views import Reader, feedback_out, revision_out


def reader_of(principal: Principal, tenant: str, feedback: Feedback) -> Reader | None:
    """How ``principal`` reads ``feedback`` (None: not at all)."""
    if isinstance(principal, PartnerPrincipal):
        if tenant in principal.tenants and feedback.partner_app_id == principal.app_id:
            return Reader.AUTHOR
        return None
    if feedback.account_id is not None and feedback.account_id == principal.account_id:
        return Reader.AUTHOR
    if principal.can(tenant, Permission.FEEDBACK_MODERATE):
        return Reader.MODERATOR
    if principal.can(tenant, Permission.FEEDBACK_READ):
        return Reader.STAFF
    return None


def page(
    session: Session,
    principal: Principal,
    tenant: str,
    wanted: queries.FeedbackFilter,
    cursor: str | None,
    limit: int,
) -> Page[FeedbackOut]:
    """A page of the tenant's feedback, newest first, for a reader with ``feedback:read``: a
    partner app sees its own only."""
    if isinstance(principal, PartnerPrincipal):
        reader = Reader.AUTHOR
        wanted = replace(wanted, partner_app_id=principal.app_id)
    elif principal.can(tenant, Permission.FEEDBACK_MODERATE):
        reader = Reader.MODERATOR
    else:
        reader = Reader.STAFF
    rows, next_cursor = queries.page(session, wanted, cursor, limit)
    return Page[FeedbackOut](
        items=[feedback_out(fb, reader) for fb in rows], next_cursor=next_cursor
    )


def readable(
    session: Session, principal: Principal, tenant: str, feedback_id: str
) -> tuple[Feedback, Reader]:
    """The feedback and how ``principal`` reads it; 404 when they may not read it at all."""
    feedback = session.scalar(select(Feedback).where(Feedback.id == feedback_id))
    reader = reader_of(principal, tenant, feedback) if feedback is not None else None
    if feedback is None or reader is None:
        raise Problem(404, f"No feedback {feedback_id!r} for this reader.", slug="unknown-feedback")
    return feedback, reader


def one(session: Session, principal: Principal, tenant: str, feedback_id: str) -> FeedbackOut:
    feedback, reader = readable(session, principal, tenant, feedback_id)
    return feedback_out(feedback, reader)


def history(
    session: Session, principal: Principal, tenant: str, feedback_id: str
) -> list[RevisionOut]:
    """Every version its author submitted, oldest first."""
    feedback, reader = readable(session, principal, tenant, feedback_id)
    revisions = session.scalars(
        select(FeedbackRevision)
        .where(FeedbackRevision.feedback_id == feedback.id)
        .order_by(FeedbackRevision.revision)
    ).all()
    return [revision_out(r, reader, feedback) for r in revisions]


def retract_own(session: Session, principal: Principal, tenant: str, feedback_id: str) -> bool:
    """The author retracts their feedback (403 for anyone else); False when it already was."""
    feedback, reader = readable(session, principal, tenant, feedback_id)
    if reader is not Reader.AUTHOR:
        raise forbidden("Only its author retracts a feedback; moderators use moderation.")
    if isinstance(principal, PartnerPrincipal) and not principal.can(
        tenant, Permission.FEEDBACK_WRITE
    ):
        raise forbidden("This API key may not change feedback (`feedback:write`).")
    if feedback.retracted_at is not None:
        return False
    intake.retract(session, feedback, "author", utcnow())
    return True


def public_scores(session: Session, tenant: Tenant, entry_id: str) -> ScoresOut:
    """An entry's average scores, where the tenant publishes them (404 otherwise), once it
    has the tenant's minimum of answers."""
    rules = TenantRules.model_validate(tenant.rules)
    if not rules.public_averages:
        raise Problem(
            404, "This authority does not publish average scores.", slug="scores-not-public"
        )
    n, sat, imp = queries.scores(session, entry_id)
    enough = n >= rules.min_answers
    return ScoresOut(
        entry_id=entry_id,
        answers=n,
        enough_answers=enough,
        satisfaction_mean=sat if enough else None,
        importance_mean=imp if enough else None,
    )
