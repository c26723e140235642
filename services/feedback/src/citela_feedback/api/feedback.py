"""Feedback: submit (one, or a batch for partners), list, read, history, retract, scores."""

# No `from __future__ import annotations`: FastAPI reads the route signatures, whose
# dependency aliases are local to router().

from collections import Counter
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from citela_common.auth import (
    PartnerPrincipal,
    Permission,
    Principal,
    UserPrincipal,
    forbidden,
)
from citela_common.db import utcnow
from citela_common.web import Problem, field_error
from citela_common.web.pagination import Page
from citela_feedback import idempotency, intake, queries, submitting
from citela_feedback.api.deps import TENANT_PATH, Deps, problems
from citela_feedback.domain.moderation import ModerationStatus
from citela_feedback.domain.rules import TenantRules
from citela_feedback.group_commit import GroupCommitter
from citela_feedback.intake import Author, Intake, Rejected, Submission, current_key
from citela_feedback.metrics import ACCEPTED, IDEMPOTENT_REPLAYS, REJECTED, RETRACTED
from citela_feedback.models import Account, Feedback, FeedbackRevision
from citela_feedback.schemas import (
    BatchIn,
    BatchOut,
    FeedbackIn,
    FeedbackOut,
    Outcome,
    RevisionOut,
    ScalesOut,
    ScoresOut,
    SubmittedOut,
)
from citela_feedback.submitting import Caller, Pending
from citela_feedback.views import Reader, feedback_out, revision_out, submitted_out

TenantPath = Annotated[str, Path(pattern=TENANT_PATH, description="code of the tenant")]
FeedbackId = Annotated[str, Path(min_length=1, max_length=32)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="a unique key per intended submission: a retry with the same key and body "
        "returns the first response instead of submitting again (kept 24 h)",
    ),
]


def _rejected_problem(rejected: Rejected) -> Problem:
    if rejected.reason == intake.OLDER_THAN_CURRENT:
        return Problem(
            409,
            "This answer was collected before the author's current feedback on this entry, "
            "which stays current: "
            + "; ".join(f"{v.field}: {v.reason}" for v in rejected.violations)
            + ".",
            slug="newer-feedback-exists",
            title="Un avis plus récent existe déjà",
            errors=[field_error(f"body.{v.field}", v.reason, v.code) for v in rejected.violations],
        )
    return Problem(
        422,
        "The feedback was not accepted: "
        + "; ".join(f"{v.field}: {v.reason}" for v in rejected.violations)
        + ".",
        slug="feedback-rejected",
        title="Avis refusé",
        errors=[field_error(f"body.{v.field}", v.reason, v.code) for v in rejected.violations],
    )


def _author(
    principal: Principal, tenant: str, user_ref: str | None, collected_at: datetime | None = None
) -> Author:
    if isinstance(principal, UserPrincipal):
        if user_ref is not None:
            raise Problem(
                422,
                "`user_ref` is for partner apps; a signed-in citizen posts as themself.",
                slug="validation",
                errors=[field_error("body.user_ref", "only partner apps send it", "forbidden")],
            )
        if collected_at is not None:
            # A citizen answers now, on the portal: only a partner app collects answers earlier.
            raise Problem(
                422,
                "`collected_at` is for partner apps that upload answers collected earlier; a "
                "citizen's feedback is dated when it is received.",
                slug="validation",
                errors=[
                    field_error(
                        "body.collected_at", "only partner apps may date an answer", "forbidden"
                    )
                ],
            )
        return Author("citizen", account_id=principal.account_id)
    if not principal.can(tenant, Permission.FEEDBACK_WRITE):
        raise forbidden(f"This API key may not post feedback to tenant {tenant!r}.")
    if user_ref is None:
        raise Problem(
            422,
            "A partner app must say which of its users gives the feedback (`user_ref`).",
            slug="validation",
            errors=[field_error("body.user_ref", "required for partner apps", "missing")],
        )
    return Author("partner", app_id=principal.app_id, user_ref=user_ref)


def _may_post(principal: Principal, tenant: str, body: FeedbackIn) -> None:
    _author(principal, tenant, body.user_ref, body.collected_at)


def _fingerprint_body(body: BatchIn | FeedbackIn) -> dict[str, Any]:
    """The body as fingerprinted for Idempotency-Key: an absent ``collected_at`` is left out,
    so that keys stored before the field existed still match their retries."""
    dumped: dict[str, Any] = body.model_dump(mode="json")
    for item in dumped.get("items", [dumped]):
        if item.get("collected_at") is None:
            item.pop("collected_at", None)
    return dumped


def _principal_key(principal: Principal) -> str:
    if isinstance(principal, UserPrincipal):
        return f"account:{principal.account_id}"
    return f"app:{principal.app_id}"


def _ensure_confirmed(session: Session, principal: Principal) -> None:
    if not isinstance(principal, UserPrincipal):
        return
    account = session.get(Account, principal.account_id)
    if account is None:
        raise Problem(401, "This account no longer exists.", slug="unauthenticated")
    if account.email_confirmed_at is None:
        raise Problem(
            403,
            "Confirm your email address (see the link we mailed) before giving feedback.",
            slug="email-not-confirmed",
            title="Adresse électronique non confirmée",
        )


def _reader(principal: Principal, tenant: str, feedback: Feedback) -> Reader | None:
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


def _not_found(feedback_id: str) -> Problem:
    return Problem(404, f"No feedback {feedback_id!r} for this reader.", slug="unknown-feedback")


def router(deps: Deps) -> APIRouter:
    ctx = deps.ctx
    api = APIRouter(prefix="/v1", tags=["avis"])
    AnyPrincipal = Annotated[Principal, Depends(deps.principal)]  # noqa: N806 - a type alias
    Reading = Annotated[Principal, Depends(deps.auth.permission(Permission.FEEDBACK_READ))]  # noqa: N806 - a type alias

    CallerDep = Annotated[Caller, Depends(deps.caller)]  # noqa: N806 - a type alias

    def confirm(session: Session, principal: Principal) -> None:
        _ensure_confirmed(session, principal)

    committer = GroupCommitter(
        partial(submitting.run_group, ctx),
        screen=lambda group: deps.limit_many([p.caller.principal for p in group]),
        flushes=ctx.settings.feedback_group_commit_flushes,
        max_group=ctx.settings.feedback_group_commit_max,
    )

    def single(
        tenant: str, body: FeedbackIn, caller: Caller, key: str | None
    ) -> tuple[Pending, str]:
        """The request's unit of intake (its author and key checked), and its channel."""
        author = _author(caller.principal, tenant, body.user_ref, body.collected_at)
        channel = author.channel.value
        submission = Submission(
            body.entry_id, body.satisfaction, body.importance, body.comment, body.collected_at
        )

        def work(unit: Intake, now: datetime) -> tuple[int, SubmittedOut]:
            try:
                accepted = unit.submit(author, submission, now)
            except Rejected as exc:
                REJECTED.labels(channel=channel, reason=exc.reason).inc()
                raise _rejected_problem(exc) from None
            out = submitted_out(accepted.feedback, accepted.outcome)
            return (201 if accepted.outcome is Outcome.SUBMITTED else 200), out

        pending = Pending(
            tenant=tenant,
            caller=caller,
            key=idempotency.check_key(key),
            fingerprint=idempotency.fingerprint(
                "POST", f"/v1/tenants/{tenant}/feedback", _fingerprint_body(body)
            ),
            authorize=lambda p: _may_post(p, tenant, body),
            confirm=confirm,
            work=work,
            current_key=current_key(author, body.entry_id),
        )
        return pending, channel

    def answered(tenant: str, channel: str, answer: submitting.Answer) -> Response:
        response, result = answer
        if isinstance(result, SubmittedOut):
            ACCEPTED.labels(channel=channel, outcome=result.outcome.value).inc()
            if result.outcome is Outcome.SUBMITTED:
                response.headers["Location"] = f"/v1/tenants/{tenant}/feedback/{result.id}"
        else:
            IDEMPOTENT_REPLAYS.labels(channel=channel).inc()
        return response

    @api.post(
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
        tenant: TenantPath,
        body: FeedbackIn,
        caller: CallerDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        # Checked on the event loop, written with the requests that arrive meanwhile (one
        # thread-pool hop per group: the rate limits in one round trip, the transaction).
        pending, channel = single(tenant, body, caller, idempotency_key)
        answer = await committer.submit(pending)
        return answered(tenant, channel, answer)

    def submit_batch(
        tenant: str, body: BatchIn, caller: Caller, idempotency_key: str | None
    ) -> Response:
        partner = caller.principal
        if not isinstance(partner, PartnerPrincipal):
            raise forbidden("This endpoint is for partner apps (X-API-Key).")
        deps.limit(partner)

        def authorize(principal: Principal) -> None:
            if not principal.can(tenant, Permission.FEEDBACK_WRITE):
                raise forbidden(f"This API key may not post feedback to tenant {tenant!r}.")

        authorize(partner)
        app_id = partner.app_id
        channel = "partner"
        tally: dict[str, Counter[str]] = {}

        # Built once (a unit of work may run again): one Author per user, the submissions.
        items = body.items
        authors: dict[str, Author] = {}
        for item in items:
            if item.user_ref is not None and item.user_ref not in authors:
                authors[item.user_ref] = Author("partner", app_id=app_id, user_ref=item.user_ref)
        submissions = [
            Submission(i.entry_id, i.satisfaction, i.importance, i.comment, i.collected_at)
            for i in items
        ]
        pairs = [(authors[i.user_ref], i.entry_id) for i in items if i.user_ref is not None]

        def work(unit: Intake, now: datetime) -> tuple[int, BatchOut]:
            unit.prefetch(pairs)
            # Each item's result as plain data, validated into BatchOut in one call.
            results: list[dict[str, Any]] = []
            accepted: Counter[str] = Counter()
            rejected: Counter[str] = Counter()
            for index, (item, submission) in enumerate(zip(items, submissions, strict=True)):
                if item.user_ref is None:
                    rejected["user_ref"] += 1
                    error = {
                        "field": f"body.items.{index}.user_ref",
                        "reason": "required for partner apps",
                        "code": "missing",
                    }
                    results.append({"index": index, "status": "rejected", "errors": [error]})
                    continue
                try:
                    done = unit.submit(authors[item.user_ref], submission, now)
                except Rejected as exc:
                    rejected[exc.reason] += 1
                    errors = [
                        {
                            "field": f"body.items.{index}.{v.field}",
                            "reason": v.reason,
                            "code": v.code,
                        }
                        for v in exc.violations
                    ]
                    results.append({"index": index, "status": "rejected", "errors": errors})
                    continue
                accepted[done.outcome.value] += 1
                results.append(
                    {
                        "index": index,
                        "status": "accepted",
                        "feedback_id": done.feedback.id,
                        "outcome": done.outcome,
                    }
                )
            tally["accepted"], tally["rejected"] = accepted, rejected
            n_ok = sum(accepted.values())
            out = {"accepted": n_ok, "rejected": len(results) - n_ok, "results": results}
            return 200, BatchOut.model_validate(out)

        response, result = submitting.run(
            ctx,
            tenant=tenant,
            caller=caller,
            key=idempotency_key,
            fingerprint=idempotency.fingerprint(
                "POST", f"/v1/tenants/{tenant}/feedback/batch", _fingerprint_body(body)
            ),
            authorize=authorize,
            confirm=confirm,
            work=work,
        )
        if result is not None:
            for outcome, n in tally["accepted"].items():
                ACCEPTED.labels(channel=channel, outcome=outcome).inc(n)
            for reason, n in tally["rejected"].items():
                REJECTED.labels(channel=channel, reason=reason).inc(n)
        else:
            IDEMPOTENT_REPLAYS.labels(channel=channel).inc()
        return response

    @api.post(
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
        tenant: TenantPath,
        body: BatchIn,
        caller: CallerDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        return await run_in_threadpool(submit_batch, tenant, body, caller, idempotency_key)

    @api.get(
        "/tenants/{tenant}/feedback",
        response_model=Page[FeedbackOut],
        summary="Staff (and partner apps, their own): the tenant's feedback, newest first",
        responses=problems(400, 401, 403, 404, 422, 429),
    )
    def list_feedback(
        tenant: TenantPath,
        principal: Reading,
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
        for name, value in (("submitted_from", submitted_from), ("submitted_to", submitted_to)):
            if value is not None and value.tzinfo is None:
                raise Problem(
                    422,
                    f"`{name}` needs a time zone (e.g. 2026-11-28T00:00:00+01:00).",
                    slug="validation",
                    errors=[field_error(f"query.{name}", "timezone required", "naive_datetime")],
                )
        if isinstance(principal, PartnerPrincipal):
            reader, app_id = Reader.AUTHOR, principal.app_id
        else:
            app_id = None
            reader = (
                Reader.MODERATOR
                if principal.can(tenant, Permission.FEEDBACK_MODERATE)
                else Reader.STAFF
            )
        f = queries.FeedbackFilter(
            entry_id=entry_id,
            channel=channel,
            comment_status=comment_status,
            with_comment=with_comment,
            satisfaction_min=satisfaction_min,
            satisfaction_max=satisfaction_max,
            importance_min=importance_min,
            importance_max=importance_max,
            submitted_from=submitted_from,
            submitted_to=submitted_to,
            include_retracted=include_retracted,
            partner_app_id=app_id,
        )
        with deps.tenant_session(tenant) as (session, _row):
            rows, next_cursor = queries.page(session, f, cursor, limit)
            return Page[FeedbackOut](
                items=[feedback_out(fb, reader) for fb in rows], next_cursor=next_cursor
            )

    def _readable(
        session: Session, principal: Principal, tenant: str, fid: str
    ) -> tuple[Feedback, Reader]:
        feedback = session.scalar(select(Feedback).where(Feedback.id == fid))
        reader = _reader(principal, tenant, feedback) if feedback is not None else None
        if feedback is None or reader is None:
            raise _not_found(fid)
        return feedback, reader

    @api.get(
        "/tenants/{tenant}/feedback/{feedback_id}",
        response_model=FeedbackOut,
        summary="One feedback: its author reads their own text, staff the redacted one",
        responses=problems(401, 403, 404, 422, 429),
    )
    def get_feedback(
        tenant: TenantPath, feedback_id: FeedbackId, principal: AnyPrincipal
    ) -> FeedbackOut:
        with deps.tenant_session(tenant) as (session, _row):
            feedback, reader = _readable(session, principal, tenant, feedback_id)
            return feedback_out(feedback, reader)

    @api.get(
        "/tenants/{tenant}/feedback/{feedback_id}/history",
        response_model=list[RevisionOut],
        summary="Every version the author submitted, oldest first",
        responses=problems(401, 403, 404, 422, 429),
    )
    def history(
        tenant: TenantPath, feedback_id: FeedbackId, principal: AnyPrincipal
    ) -> list[RevisionOut]:
        with deps.tenant_session(tenant) as (session, _row):
            feedback, reader = _readable(session, principal, tenant, feedback_id)
            revisions = session.scalars(
                select(FeedbackRevision)
                .where(FeedbackRevision.feedback_id == feedback.id)
                .order_by(FeedbackRevision.revision)
            ).all()
            return [revision_out(r, reader, feedback) for r in revisions]

    @api.delete(
        "/tenants/{tenant}/feedback/{feedback_id}",
        status_code=204,
        summary="Retract one's own feedback (it stops counting)",
        responses=problems(401, 403, 404, 422, 429),
    )
    def retract(tenant: TenantPath, feedback_id: FeedbackId, principal: AnyPrincipal) -> Response:
        with deps.tenant_session(tenant) as (session, _row):
            feedback, reader = _readable(session, principal, tenant, feedback_id)
            if reader is not Reader.AUTHOR:
                raise forbidden("Only its author retracts a feedback; moderators use moderation.")
            if isinstance(principal, PartnerPrincipal) and not principal.can(
                tenant, Permission.FEEDBACK_WRITE
            ):
                raise forbidden("This API key may not change feedback (`feedback:write`).")
            done = feedback.retracted_at is None
            if done:
                intake.retract(session, feedback, "author", utcnow())
        if done:
            RETRACTED.labels(reason="author").inc()
        return Response(status_code=204)

    @api.get(
        "/scales",
        response_model=ScalesOut,
        summary="The French labels of the 1–5 satisfaction and importance scales",
        tags=["référentiels"],
    )
    def scales() -> ScalesOut:
        return ScalesOut()

    @api.get(
        "/tenants/{tenant}/scores",
        response_model=ScoresOut,
        summary="Public average scores of a catalogue entry, where the tenant publishes them",
        responses=problems(404, 422),
    )
    def scores(
        tenant: TenantPath, entry_id: Annotated[str, Query(min_length=1, max_length=250)]
    ) -> ScoresOut:
        with deps.tenant_session(tenant) as (session, row):
            rules = TenantRules.model_validate(row.rules)
            if not rules.public_averages:
                raise Problem(
                    404,
                    "This authority does not publish average scores.",
                    slug="scores-not-public",
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

    return api
