"""Dependencies and helpers the feedback routers share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from citela_common.auth import (
    ApiKeyCredentials,
    Authenticator,
    BearerCredentials,
    PartnerPrincipal,
    api_key_prefix,
    hash_api_key,
    unauthenticated,
)
from citela_common.web import Problem
from citela_common.web.problems import PROBLEM_JSON
from citela_feedback import tenants
from citela_feedback.context import FeedbackContext
from citela_feedback.metrics import RATE_LIMITED
from citela_feedback.models import Tenant
from citela_feedback.partners import KeyResolver
from citela_feedback.ratelimit import Decision
from citela_feedback.schemas import FieldError
from citela_feedback.submitting import Caller

TENANT_PATH = r"^[a-z0-9][a-z0-9-]{1,62}$"


class ProblemOut(BaseModel):
    """RFC 9457 problem details: French ``title``, English ``detail``, faulty fields."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None = None
    errors: list[FieldError] | None = None


_DESCRIPTIONS = {
    400: "malformed request (cursor, token…)",
    401: "not authenticated, or credentials refused",
    403: "authenticated but not allowed",
    404: "no such resource for this reader",
    409: "conflicts with the current state",
    413: "request too large",
    422: "invalid fields (each named with its reason)",
    429: "rate limited: see Retry-After",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for problem+json errors."""
    return {
        code: {
            "description": _DESCRIPTIONS.get(code, "error"),
            "model": ProblemOut,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}},
        }
        for code in codes
    }


class Deps:
    def __init__(self, ctx: FeedbackContext) -> None:
        self.ctx = ctx
        self.auth = Authenticator(
            ctx.tokens, KeyResolver(ctx.db, ctx.settings), on_partner=self._rate_limit
        )
        self.optional = self.auth.optional()
        self.principal = self.auth.required()
        self.user = self.auth.user()
        self.operator = self.auth.operator()

    async def caller(
        self, request: Request, bearer: BearerCredentials = None, api_key: ApiKeyCredentials = None
    ) -> Caller:
        """The caller of the intake routes, found without a thread-pool hop: an access token is
        checked in memory, a partner key read from this process's cache (from the database on
        a miss, and checked again in the request's transaction). Partners are rate limited by
        the route (``limit``), in its own thread."""
        if bearer:
            principal = self.auth.authenticate(request, bearer.credentials, None)
            if principal is not None:
                return Caller(principal)
        if api_key:
            prefix = api_key_prefix(api_key)
            if prefix:
                lookups = self.ctx.lookups
                key_hash = hash_api_key(api_key)
                cached = lookups.cached_partner(prefix, key_hash)
                if cached is None:
                    cached = await run_in_threadpool(lookups.load_partner, prefix, key_hash)
                if cached is not None:
                    return Caller(cached.principal, cached)
            raise unauthenticated("The API key is unknown or revoked.")
        raise unauthenticated()

    def limit(self, principal: object) -> None:
        """Rate-limit a partner (429); people are not limited here."""
        if isinstance(principal, PartnerPrincipal):
            self._rate_limit(None, principal)

    def limit_many(self, principals: Sequence[object]) -> list[Problem | None]:
        """``limit`` for many requests at once (one round trip): each one's 429, or None."""
        partners = [(i, p) for i, p in enumerate(principals) if isinstance(p, PartnerPrincipal)]
        refusals: list[Problem | None] = [None] * len(principals)
        decisions = self.ctx.limiter.hit_many(
            [(f"key:{p.key_id}", p.rate_limit_per_minute) for _i, p in partners]
        )
        for (i, _p), decision in zip(partners, decisions, strict=True):
            if not decision.allowed:
                refusals[i] = _limited(decision)
        return refusals

    def _rate_limit(self, request: Request | None, partner: PartnerPrincipal) -> None:
        decision = self.ctx.limiter.hit(f"key:{partner.key_id}", partner.rate_limit_per_minute)
        if not decision.allowed:
            raise _limited(decision)

    @contextmanager
    def tenant_session(self, code: str) -> Iterator[tuple[Session, Tenant]]:
        """One unit of work scoped to a tenant that exists (404 otherwise)."""
        with self.ctx.db.transaction() as session:
            yield session, tenants.get(session, code)


def _limited(decision: Decision) -> Problem:
    RATE_LIMITED.labels(scope="api_key").inc()
    return Problem(
        429,
        f"This API key is limited to {decision.limit} requests per minute.",
        slug="rate-limited",
        headers={
            "Retry-After": str(decision.retry_after_s),
            "RateLimit-Limit": str(decision.limit),
            "RateLimit-Remaining": "0",
        },
        retry_after_s=decision.retry_after_s,
    )
