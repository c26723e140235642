"""Submitting feedback as the API asks: one feedback (a citizen or a partner app, written with
the requests that arrive meanwhile: ``group_commit``) or a partner app's batch (one unit of
work, each item accepted or rejected). Checks who may post, builds the unit of intake, and
counts the outcomes; ``submitting`` runs the units."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from fastapi import Response
from sqlalchemy.orm import Session

from citela_common.auth import PartnerPrincipal, Permission, Principal, UserPrincipal, forbidden
from citela_common.events.models import Channel
from citela_common.web import Problem, field_error
from citela_feedback import idempotency, intake, quotas, submitting
from citela_feedback.context import FeedbackContext
from citela_feedback.intake import Author, Intake, Rejected, Submission, current_key
from citela_feedback.metrics import ACCEPTED, IDEMPOTENT_REPLAYS, REJECTED
from citela_feedback.models import Account
from citela_feedback.pending import Answer, Caller, Pending
from citela_feedback.schemas import BatchIn, BatchOut, FeedbackIn, Outcome, SubmittedOut
from citela_feedback.views import submitted_out

PARTNER = Channel.PARTNER.value  # the channel of a batch


async def submit_one(
    ctx: FeedbackContext, tenant: str, body: FeedbackIn, caller: Caller, key: str | None
) -> Response:
    """One feedback: 201 submitted, 200 revised or unchanged, or a replay of its key."""
    # Checked on the event loop, written with the requests that arrive meanwhile (one
    # thread-pool hop per group: the rate limits in one round trip, the transaction).
    author = _author(caller.principal, tenant, body.user_ref, body.collected_at)
    channel = author.channel.value
    submission = Submission.of(body)

    def authorize(principal: Principal) -> None:  # again, when a partner's key changed
        _author(principal, tenant, body.user_ref, body.collected_at)

    def work(unit: Intake, now: datetime) -> tuple[int, SubmittedOut]:
        try:
            accepted = unit.submit(author, submission, now)
        except Rejected as exc:
            REJECTED.labels(channel=channel, reason=exc.reason).inc()
            raise rejected_problem(exc) from None
        out = submitted_out(accepted.feedback, accepted.outcome)
        return (201 if accepted.outcome is Outcome.SUBMITTED else 200), out

    pending = Pending(
        tenant=tenant,
        caller=caller,
        key=idempotency.check_key(key),
        fingerprint=idempotency.fingerprint(
            "POST", f"/v1/tenants/{tenant}/feedback", _fingerprint_body(body)
        ),
        authorize=authorize,
        confirm=ensure_confirmed,
        work=work,
        current_key=current_key(author, body.entry_id),
    )
    return _answered(tenant, channel, await ctx.committer.submit(pending))


def _answered(tenant: str, channel: str, answer: Answer) -> Response:
    response, result = answer
    if isinstance(result, SubmittedOut):
        ACCEPTED.labels(channel=channel, outcome=result.outcome.value).inc()
        if result.outcome is Outcome.SUBMITTED:
            response.headers["Location"] = f"/v1/tenants/{tenant}/feedback/{result.id}"
    else:
        IDEMPOTENT_REPLAYS.labels(channel=channel).inc()
    return response


def submit_batch(
    ctx: FeedbackContext, tenant: str, body: BatchIn, caller: Caller, key: str | None
) -> Response:
    """A partner app's batch, in one unit of work: each item accepted or rejected (200)."""
    partner = caller.principal
    if not isinstance(partner, PartnerPrincipal):
        raise forbidden("This endpoint is for partner apps (X-API-Key).")
    quotas.limit(ctx.limiter, partner)

    def authorize(principal: Principal) -> None:
        if not principal.can(tenant, Permission.FEEDBACK_WRITE):
            raise forbidden(f"This API key may not post feedback to tenant {tenant!r}.")

    authorize(partner)
    batch = _Batch(partner.app_id, body.items)
    response, result = submitting.run(
        ctx,
        tenant=tenant,
        caller=caller,
        key=key,
        fingerprint=idempotency.fingerprint(
            "POST", f"/v1/tenants/{tenant}/feedback/batch", _fingerprint_body(body)
        ),
        authorize=authorize,
        confirm=ensure_confirmed,
        work=batch.work,
    )
    if result is not None:
        for outcome, n in batch.accepted.items():
            ACCEPTED.labels(channel=PARTNER, outcome=outcome).inc(n)
        for reason, n in batch.rejected.items():
            REJECTED.labels(channel=PARTNER, reason=reason).inc(n)
    else:
        IDEMPOTENT_REPLAYS.labels(channel=PARTNER).inc()
    return response


class _Batch:
    """A batch's items, built once (its unit of work may run again), and its tallies."""

    def __init__(self, app_id: str, items: list[FeedbackIn]) -> None:
        self.items = items
        self.authors: dict[str, Author] = {}
        for item in items:
            if item.user_ref is not None and item.user_ref not in self.authors:
                self.authors[item.user_ref] = Author(
                    "partner", app_id=app_id, user_ref=item.user_ref
                )
        self.submissions = [Submission.of(item) for item in items]
        self.accepted: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()

    def work(self, unit: Intake, now: datetime) -> tuple[int, BatchOut]:
        items, authors = self.items, self.authors
        unit.prefetch([(authors[i.user_ref], i.entry_id) for i in items if i.user_ref is not None])
        # Each item's result as plain data, validated into BatchOut in one call.
        results: list[dict[str, Any]] = []
        accepted: Counter[str] = Counter()
        rejected: Counter[str] = Counter()
        for index, (item, submission) in enumerate(zip(items, self.submissions, strict=True)):
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
                    {"field": f"body.items.{index}.{v.field}", "reason": v.reason, "code": v.code}
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
        self.accepted, self.rejected = accepted, rejected
        n_ok = sum(accepted.values())
        out = {"accepted": n_ok, "rejected": len(results) - n_ok, "results": results}
        return 200, BatchOut.model_validate(out)


def rejected_problem(rejected: Rejected) -> Problem:
    """A refused feedback as the API answers it: 409 when a newer one exists, else 422."""
    errors = [field_error(f"body.{v.field}", v.reason, v.code) for v in rejected.violations]
    reasons = "; ".join(f"{v.field}: {v.reason}" for v in rejected.violations)
    if rejected.reason == intake.OLDER_THAN_CURRENT:
        return Problem(
            409,
            "This answer was collected before the author's current feedback on this entry, "
            f"which stays current: {reasons}.",
            slug="newer-feedback-exists",
            title="Un avis plus récent existe déjà",
            errors=errors,
        )
    return Problem(
        422,
        f"The feedback was not accepted: {reasons}.",
        slug="feedback-rejected",
        title="Avis refusé",
        errors=errors,
    )


def _author(
    principal: Principal, tenant: str, user_ref: str | None, collected_at: datetime | None
) -> Author:
    """Who gives a single feedback, once the caller may: a citizen as themself, a partner app
    for one of its users (``user_ref``)."""
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


# Optional fields added to FeedbackIn after Idempotency-Keys were first stored: left out of
# the fingerprint when absent, so that a retry of a key stored before still matches it.
ADDED_LATER = ("collected_at",)


def _fingerprint_body(body: BatchIn | FeedbackIn) -> dict[str, Any]:
    """The body as fingerprinted for Idempotency-Key (``ADDED_LATER`` fields left out when
    absent)."""
    dumped: dict[str, Any] = body.model_dump(mode="json")
    for item in dumped.get("items", [dumped]):
        for name in ADDED_LATER:
            if item.get(name) is None:
                item.pop(name, None)
    return dumped


def ensure_confirmed(session: Session, principal: Principal) -> None:
    """A citizen gives feedback once their email address is confirmed (partners pass)."""
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
