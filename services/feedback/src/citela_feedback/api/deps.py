"""Dependencies and helpers the feedback routers share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from citela_common.auth import Authenticator, PartnerPrincipal
from citela_common.web import Problem
from citela_common.web.problems import PROBLEM_JSON
from citela_feedback import tenants
from citela_feedback.context import FeedbackContext
from citela_feedback.metrics import RATE_LIMITED
from citela_feedback.models import Tenant
from citela_feedback.partners import KeyResolver
from citela_feedback.schemas import FieldError

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

    def _rate_limit(self, request: Request, partner: PartnerPrincipal) -> None:
        decision = self.ctx.limiter.hit(f"key:{partner.key_id}", partner.rate_limit_per_minute)
        if not decision.allowed:
            RATE_LIMITED.labels(scope="api_key").inc()
            raise Problem(
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

    @contextmanager
    def tenant_session(self, code: str) -> Iterator[tuple[Session, Tenant]]:
        """One unit of work scoped to a tenant that exists (404 otherwise)."""
        with self.ctx.db.transaction() as session:
            yield session, tenants.get(session, code)
