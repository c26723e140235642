"""What the feedback routers share: the service's context, who calls (``Annotated``
aliases), and the OpenAPI description of their problems."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from citela_common.auth import (
    ApiKeyCredentials,
    BearerCredentials,
    Permission,
    Principal,
    UserPrincipal,
    api_key_prefix,
    forbidden,
    hash_api_key,
    unauthenticated,
)
from citela_common.runtime import ServiceRuntime
from citela_common.web.problems import PROBLEM_JSON
from citela_feedback.context import FeedbackContext
from citela_feedback.pending import Caller
from citela_feedback.schemas import FieldError


async def context(request: Request) -> FeedbackContext:
    """The service's context, from the runtime the app was built for (on the event loop:
    the intake's hot path makes no thread-pool hop for it)."""
    runtime: ServiceRuntime[FeedbackContext] = request.app.state.runtime
    return runtime.context


Context = Annotated[FeedbackContext, Depends(context)]


def optional_principal(
    request: Request,
    ctx: Context,
    bearer: BearerCredentials = None,
    api_key: ApiKeyCredentials = None,
) -> Principal | None:
    """Whoever the credentials name (None without any; 401 when refused), once per request.
    A partner's key counts against its quota here (``quotas``)."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = ctx.auth.authenticate(request, bearer.credentials if bearer else None, api_key)
    request.state.principal = principal
    return principal


def principal(found: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if found is None:
        raise unauthenticated()
    return found


AnyPrincipal = Annotated[Principal, Depends(principal)]


def citizen(found: AnyPrincipal) -> UserPrincipal:
    if not isinstance(found, UserPrincipal):
        raise forbidden("This endpoint is for people signed in, not for partner apps.")
    return found


CurrentUser = Annotated[UserPrincipal, Depends(citizen)]


def operator(user: CurrentUser) -> UserPrincipal:
    if not user.operator:
        raise forbidden("Only a platform operator may do this.")
    return user


Operator = Annotated[UserPrincipal, Depends(operator)]


def _on_path_tenant(request: Request, found: Principal, permission: Permission) -> Principal:
    tenant = str(request.path_params.get("tenant", ""))
    if not found.can(tenant, permission):
        raise forbidden(f"`{permission.value}` on tenant {tenant!r} is required.")
    return found


def feedback_reader(request: Request, found: AnyPrincipal) -> Principal:
    """``feedback:read`` on the path's tenant."""
    return _on_path_tenant(request, found, Permission.FEEDBACK_READ)


def moderator(request: Request, found: AnyPrincipal) -> Principal:
    """``feedback:moderate`` on the path's tenant."""
    return _on_path_tenant(request, found, Permission.FEEDBACK_MODERATE)


def admin(request: Request, found: AnyPrincipal) -> Principal:
    """Admin of the path's tenant, or a platform operator."""
    if isinstance(found, UserPrincipal) and found.operator:
        return found
    return _on_path_tenant(request, found, Permission.TENANT_ADMIN)


FeedbackReader = Annotated[Principal, Depends(feedback_reader)]
Moderator = Annotated[Principal, Depends(moderator)]
Admin = Annotated[Principal, Depends(admin)]


async def caller(
    request: Request,
    ctx: Context,
    bearer: BearerCredentials = None,
    api_key: ApiKeyCredentials = None,
) -> Caller:
    """The caller of the intake routes, found without a thread-pool hop: an access token is
    checked in memory, a partner key read from this process's cache (from the database on
    a miss, and checked again in the request's transaction). Partners are counted against
    their quota by the submission (``quotas``), in its own thread."""
    if bearer:
        found = ctx.auth.authenticate(request, bearer.credentials, None)
        if found is not None:
            return Caller(found)
    if api_key:
        prefix = api_key_prefix(api_key)
        if prefix:
            lookups = ctx.lookups
            key_hash = hash_api_key(api_key)
            cached = lookups.cached_partner(prefix, key_hash)
            if cached is None:
                cached = await run_in_threadpool(lookups.load_partner, prefix, key_hash)
            if cached is not None:
                return Caller(cached.principal, cached)
        raise unauthenticated("The API key is unknown or revoked.")
    raise unauthenticated()


IntakeCaller = Annotated[Caller, Depends(caller)]

IdPath = Annotated[str, Path(min_length=1, max_length=32)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="a unique key per intended submission: a retry with the same key and body "
        "returns the first response instead of submitting again (kept 24 h)",
    ),
]


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
