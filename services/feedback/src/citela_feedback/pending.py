"""One request's unit of intake as the submitting path takes it: who posts, what to check and
what to write. Plain data, shared by ``submitting`` (which runs units) and ``group_commit``
(which groups them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from citela_common.auth import Principal, UserPrincipal
from citela_feedback.intake import Intake
from citela_feedback.lookups import CachedPartner


@dataclass(frozen=True)
class Caller:
    """Who posts: the principal, and for a partner the cached key it was found by."""

    principal: Principal
    partner: CachedPartner | None = None


def principal_key(principal: Principal) -> str:
    """Whose Idempotency-Keys these are: an account, or a partner app."""
    if isinstance(principal, UserPrincipal):
        return f"account:{principal.account_id}"
    return f"app:{principal.app_id}"


Work = Callable[[Intake, datetime], tuple[int, BaseModel]]
Answer = tuple[JSONResponse, BaseModel | None]


@dataclass(frozen=True)
class Pending:
    """One request's unit of intake, as ``submitting.run_pending`` and ``run_group`` take it."""

    tenant: str
    caller: Caller
    key: str | None
    fingerprint: str
    authorize: Callable[[Principal], None]
    confirm: Callable[[Session, Principal], None]
    work: Work
    current_key: str | None = None

    @property
    def claim_id(self) -> tuple[str, str, str] | None:
        """What two requests of one group may not share: the same key of the same caller."""
        if self.key is None:
            return None
        return (self.tenant, principal_key(self.caller.principal), self.key)
