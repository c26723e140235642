"""HTTP API of the feedback service."""

from __future__ import annotations

from fastapi import FastAPI

from citela_common.runtime import ServiceRuntime
from citela_common.web import create_service_app
from citela_feedback.api import accounts, feedback, moderation, operations, tenants
from citela_feedback.api.deps import problems
from citela_feedback.context import FeedbackContext
from citela_feedback.domain.scales import IMPORTANCE_DOC, SATISFACTION_DOC

TITLE = "Citéla — avis des usagers"
DESCRIPTION = f"""Citizens' and partner apps' feedback (satisfaction, importance, comment) on the
public services of a territory.

**Scales.** Satisfaction — {SATISFACTION_DOC} Importance — {IMPORTANCE_DOC}

**Authentication.** People sign in with `POST /v1/auth/token` and send
`Authorization: Bearer <access token>`; partner apps send `X-API-Key: <key>` (scoped to tenants
and to `feedback:read` / `feedback:write`, rate limited: 429 with `Retry-After`).

**Errors** are RFC 9457 `application/problem+json`: a French `title` for people, an English
`detail` and, per faulty field, `errors[].field` / `reason` / `code` for developers.

**Retries.** Send an `Idempotency-Key` header on the POSTs that create: a retry with the same
key and body returns the first response (header `Idempotent-Replayed: true`), never a second
feedback.

**Personal data.** Emails, phone numbers, IBANs and postal addresses typed into comments are
masked in everything the service shares; only the author reads their original text.
"""


def create_app(runtime: ServiceRuntime[FeedbackContext]) -> FastAPI:
    """The feedback API; its routes reach ``runtime.context`` through ``deps.Context``."""
    app = create_service_app(
        "feedback", title=TITLE, description=DESCRIPTION, checks=runtime.readiness_checks()
    )
    # Any body can be malformed (400) or invalid (422); any call authenticated by an API key
    # can be rate limited (429).
    # The intake first: routes are matched in order, and partners' posts are most requests.
    app.include_router(feedback.router, responses=problems(400, 401, 403, 404, 422, 429))
    app.include_router(accounts.router, responses=problems(400, 422, 429))
    for module in (tenants, moderation, operations):
        app.include_router(module.router, responses=problems(400, 401, 403, 404, 422, 429))
    return app
