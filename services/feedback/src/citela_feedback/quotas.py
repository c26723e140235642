"""Partner apps' request quotas: each API key is limited to its app's requests per minute
(429 with Retry-After beyond). People are limited only at sign-in (``accounts.login``)."""

from __future__ import annotations

from collections.abc import Sequence

from citela_common.auth import PartnerPrincipal
from citela_common.web import Problem
from citela_feedback.metrics import RATE_LIMITED
from citela_feedback.ratelimit import Decision, RateLimiter


def limit(limiter: RateLimiter, principal: object) -> None:
    """Count one request of a partner's key; raise its 429 beyond the quota. Anyone else
    passes."""
    if isinstance(principal, PartnerPrincipal):
        decision = limiter.hit(f"key:{principal.key_id}", principal.rate_limit_per_minute)
        if not decision.allowed:
            raise limited(decision)


def limit_many(limiter: RateLimiter, principals: Sequence[object]) -> list[Problem | None]:
    """``limit`` for many requests at once (one round trip): each one's 429, or None."""
    partners = [(i, p) for i, p in enumerate(principals) if isinstance(p, PartnerPrincipal)]
    refusals: list[Problem | None] = [None] * len(principals)
    decisions = limiter.hit_many(
        [(f"key:{p.key_id}", p.rate_limit_per_minute) for _i, p in partners]
    )
    for (i, _p), decision in zip(partners, decisions, strict=True):
        if not decision.allowed:
            refusals[i] = limited(decision)
    return refusals


def limited(decision: Decision) -> Problem:
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
