"""One unit of intake from the API: a transaction that first reads, in one query, the
generations of what is cached, the Idempotency-Key's record and the author's current feedback;
then checks the caller and the tenant against the caches, replays a used key, decides the
submissions and writes them with the key's response.

``run_group`` does the same for several single submissions of one tenant that arrived
together (group commit, see ``group_commit``): one transaction, one read of every key's record
and every author's current feedback, one write statement, one commit. Each request keeps its
own answer: a refusal is that request's alone; a conflict with a concurrent transaction sends
every request of the group through ``run`` on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Connection, Table, and_, bindparam, literal, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citela_common.auth import Principal, UserPrincipal, unauthenticated
from citela_common.db import utcnow
from citela_common.tenancy import scope_to_tenant
from citela_common.web import Problem
from citela_feedback import idempotency, tenants
from citela_feedback.context import FeedbackContext
from citela_feedback.domain.rules import Violation
from citela_feedback.generations import PARTNERS, tenant_scope
from citela_feedback.intake import FEEDBACK_COLUMNS, FEEDBACKS, ConcurrentChange, Intake
from citela_feedback.lookups import CachedPartner, Lookups, TenantInfo
from citela_feedback.models import CacheGeneration, IdempotencyRecord

ATTEMPTS = 3  # a unit of work lost to a concurrent duplicate is replayed, then sees it

_GENERATIONS = cast(Table, CacheGeneration.__table__)
_KEYS = cast(Table, IdempotencyRecord.__table__)


def _head_statement() -> Any:
    partners = _GENERATIONS.alias("g_partners")
    tenant = _GENERATIONS.alias("g_tenant")
    one = select(literal(1).label("one")).subquery("one")
    joined = (
        one.outerjoin(partners, partners.c.scope == PARTNERS)
        .outerjoin(tenant, tenant.c.scope == bindparam("h_scope"))
        .outerjoin(
            FEEDBACKS,
            and_(
                FEEDBACKS.c.tenant_id == bindparam("h_tenant"),
                FEEDBACKS.c.current_key == bindparam("h_current"),
            ),
        )
        .outerjoin(
            _KEYS,
            and_(
                _KEYS.c.tenant_id == bindparam("h_tenant"),
                _KEYS.c.principal == bindparam("h_principal"),
                _KEYS.c.key == bindparam("h_key"),
            ),
        )
    )
    return select(
        partners.c.generation.label("g_partners"),
        tenant.c.generation.label("g_tenant"),
        *(FEEDBACKS.c[c] for c in FEEDBACK_COLUMNS),
        _KEYS.c.request_hash,
        _KEYS.c.status_code,
        _KEYS.c.response,
        _KEYS.c.expires_at,
    ).select_from(joined)


_HEAD = _head_statement()


def _group_head_statement() -> Any:
    """The generations and the records of many keys (one row per key found, else one row)."""
    partners = _GENERATIONS.alias("g_partners")
    tenant = _GENERATIONS.alias("g_tenant")
    one = select(literal(1).label("one")).subquery("one")
    joined = (
        one.outerjoin(partners, partners.c.scope == PARTNERS)
        .outerjoin(tenant, tenant.c.scope == bindparam("h_scope"))
        .outerjoin(
            _KEYS,
            and_(
                _KEYS.c.tenant_id == bindparam("h_tenant"),
                tuple_(_KEYS.c.principal, _KEYS.c.key).in_(bindparam("h_keys", expanding=True)),
            ),
        )
    )
    return select(
        partners.c.generation.label("g_partners"),
        tenant.c.generation.label("g_tenant"),
        _KEYS.c.principal,
        _KEYS.c.key,
        _KEYS.c.request_hash,
        _KEYS.c.status_code,
        _KEYS.c.response,
        _KEYS.c.expires_at,
    ).select_from(joined)


_GROUP_HEAD = _group_head_statement()


@dataclass(frozen=True)
class Head:
    partners_generation: int
    tenant_generation: int
    current: Mapping[Any, Any] | None  # the author's current feedback (single submissions)
    stored: idempotency.Stored | None


def read_head(
    conn: Connection, tenant: str, current_key: str | None, principal: str, key: str | None
) -> Head:
    row = (
        conn.execute(
            _HEAD,
            {
                "h_scope": tenant_scope(tenant),
                "h_tenant": tenant,
                "h_current": current_key,
                "h_principal": principal,
                "h_key": key,
            },
        )
        .mappings()
        .one()
    )
    stored = None
    if row["request_hash"] is not None:
        stored = idempotency.Stored(
            row["request_hash"], row["status_code"], row["response"], row["expires_at"]
        )
    return Head(
        partners_generation=int(row["g_partners"] or 0),
        tenant_generation=int(row["g_tenant"] or 0),
        current=row if row["id"] is not None else None,
        stored=stored,
    )


@dataclass(frozen=True)
class Caller:
    """Who posts: the principal, and for a partner the cached key it was found by."""

    principal: Principal
    partner: CachedPartner | None = None


@dataclass(frozen=True)
class GroupHead:
    partners_generation: int
    tenant_generation: int
    stored: dict[tuple[str, str], idempotency.Stored]  # by (principal, key)


def read_group_head(conn: Connection, tenant: str, keys: Sequence[tuple[str, str]]) -> GroupHead:
    rows = (
        conn.execute(
            _GROUP_HEAD, {"h_scope": tenant_scope(tenant), "h_tenant": tenant, "h_keys": keys}
        )
        .mappings()
        .all()
    )
    stored = {
        (r["principal"], r["key"]): idempotency.Stored(
            r["request_hash"], r["status_code"], r["response"], r["expires_at"]
        )
        for r in rows
        if r["request_hash"] is not None
    }
    first = rows[0]
    return GroupHead(int(first["g_partners"] or 0), int(first["g_tenant"] or 0), stored)


def principal_key(principal: Principal) -> str:
    if isinstance(principal, UserPrincipal):
        return f"account:{principal.account_id}"
    return f"app:{principal.app_id}"


def _verdict(
    lookups: Lookups, session: Session, tenant: TenantInfo, generation: int, entry_id: str
) -> Violation | None:
    return lookups.entry_violation(session, tenant, entry_id, generation)


class _KeyTaken(Exception):
    """A concurrent request with the same Idempotency-Key committed first."""


Work = Callable[[Intake, datetime], tuple[int, BaseModel]]
Answer = tuple[JSONResponse, BaseModel | None]


@dataclass(frozen=True)
class Pending:
    """One request's unit of intake, as ``run`` and ``run_group`` take it."""

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


def run_pending(ctx: FeedbackContext, pending: Pending) -> Answer:
    return run(
        ctx,
        tenant=pending.tenant,
        caller=pending.caller,
        key=pending.key,
        fingerprint=pending.fingerprint,
        authorize=pending.authorize,
        confirm=pending.confirm,
        work=pending.work,
        current_key=pending.current_key,
    )


def _replayed(replay: idempotency.Replay) -> JSONResponse:
    return JSONResponse(
        replay.body, status_code=replay.status_code, headers={idempotency.REPLAY_HEADER: "true"}
    )


class _Abandon(Exception):
    """The group cannot be committed as one: run its requests one by one."""


def run_group(
    ctx: FeedbackContext, tenant: str, group: Sequence[Pending]
) -> list[Answer | Problem]:
    """Run several single submissions of ``tenant`` (keys distinct by ``claim_id``) in one
    transaction; each gets its answer or its refusal (a Problem). A conflict with a concurrent
    transaction, or an unexpected error in one of them, runs each on its own (``run``)."""
    if len(group) == 1:
        return [_answer_alone(ctx, group[0])]
    try:
        return _run_group(ctx, tenant, group)
    except (IntegrityError, ConcurrentChange, _KeyTaken, _Abandon):
        return [_answer_alone(ctx, pending) for pending in group]


def _answer_alone(ctx: FeedbackContext, pending: Pending) -> Answer | Problem:
    try:
        return run_pending(ctx, pending)
    except Problem as problem:
        return problem


def _run_group(
    ctx: FeedbackContext, tenant: str, group: Sequence[Pending]
) -> list[Answer | Problem]:
    answers: list[Answer | Problem] = []
    with ctx.db.transaction() as session:
        scope_to_tenant(session, tenant)
        checked = [(p, idempotency.check_key(p.key)) for p in group]
        keys = [(principal_key(p.caller.principal), key) for p, key in checked if key is not None]
        head = read_group_head(session.connection(), tenant, keys)
        info = ctx.lookups.tenant(session, tenant, head.tenant_generation)
        if info is None:
            return [tenants.unknown_tenant(tenant) for _ in group]
        unit = Intake(
            session,
            tenant,
            info.rules,
            ctx.secret,
            verdict=partial(_verdict, ctx.lookups, session, info, head.tenant_generation),
        )
        unit.prefetch_keys(p.current_key for p in group if p.current_key is not None)
        now = utcnow()
        claims: list[dict[str, Any]] = []
        for pending, key in checked:
            try:
                answer, claim = _decide(ctx, unit, session, head, pending, key, now)
            except Problem as problem:
                answers.append(problem)
                continue
            except Exception as exc:  # a fault, not a refusal: each request on its own
                raise _Abandon() from exc
            answers.append(answer)
            if claim is not None:
                claims.append(claim)
        if not unit.write(now, claims):
            raise _KeyTaken()
    return answers


def _decide(
    ctx: FeedbackContext,
    unit: Intake,
    session: Session,
    head: GroupHead,
    pending: Pending,
    key: str | None,
    now: datetime,
) -> tuple[Answer, dict[str, Any] | None]:
    """One request of a group: its checks, its replay or its work (staged in ``unit``)."""
    principal = pending.caller.principal
    who = principal_key(principal)
    if pending.caller.partner is not None:
        fresh = ctx.lookups.current_partner(pending.caller.partner, head.partners_generation)
        if fresh is None:
            raise unauthenticated("The API key is unknown or revoked.")
        if fresh != principal:
            principal = fresh
            pending.authorize(principal)
    pending.confirm(session, principal)
    if key is not None:
        replayed = idempotency.replay(head.stored.get((who, key)), pending.fingerprint, now)
        if replayed is not None:
            return (_replayed(replayed), None), None
    status, result = pending.work(unit, now)
    body = result.model_dump(mode="json")
    claim = None
    if key is not None:
        claim = idempotency.claim_row(
            tenant=pending.tenant,
            principal=who,
            key=key,
            request_hash=pending.fingerprint,
            status_code=status,
            response=body,
            account_id=getattr(principal, "account_id", None),
            now=now,
            ttl=timedelta(seconds=ctx.settings.idempotency_ttl_s),
        )
    return (JSONResponse(body, status_code=status), result), claim


def run(
    ctx: FeedbackContext,
    *,
    tenant: str,
    caller: Caller,
    key: str | None,
    fingerprint: str,
    authorize: Callable[[Principal], None],
    confirm: Callable[[Session, Principal], None],
    work: Work,
    current_key: str | None = None,
) -> tuple[JSONResponse, BaseModel | None]:
    """Run ``work`` in a unit of intake of ``tenant`` under an optional Idempotency-Key.

    ``authorize`` runs again when the partner's key changed since it was cached (403),
    ``confirm`` checks a citizen's account in the transaction. Returns the response, and the
    result (None for a replay).
    """
    key = idempotency.check_key(key)
    principal = caller.principal
    who = principal_key(principal)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with ctx.db.transaction() as session:
                scope_to_tenant(session, tenant)
                head = read_head(session.connection(), tenant, current_key, who, key)
                if caller.partner is not None:
                    fresh = ctx.lookups.current_partner(caller.partner, head.partners_generation)
                    if fresh is None:
                        raise unauthenticated("The API key is unknown or revoked.")
                    if fresh != principal:
                        principal = fresh
                        authorize(principal)
                info = ctx.lookups.tenant(session, tenant, head.tenant_generation)
                if info is None:
                    raise tenants.unknown_tenant(tenant)
                confirm(session, principal)
                now = utcnow()
                if key is not None:
                    replayed = idempotency.replay(head.stored, fingerprint, now)
                    if replayed is not None:
                        return _replayed(replayed), None
                unit = Intake(
                    session,
                    tenant,
                    info.rules,
                    ctx.secret,
                    verdict=partial(_verdict, ctx.lookups, session, info, head.tenant_generation),
                )
                if current_key is not None:
                    unit.known(current_key, head.current)
                status, result = work(unit, now)
                body = result.model_dump(mode="json")
                claim = None
                if key is not None:
                    claim = idempotency.claim_row(
                        tenant=tenant,
                        principal=who,
                        key=key,
                        request_hash=fingerprint,
                        status_code=status,
                        response=body,
                        account_id=getattr(principal, "account_id", None),
                        now=now,
                        ttl=timedelta(seconds=ctx.settings.idempotency_ttl_s),
                    )
                if not unit.write(now, () if claim is None else (claim,)):
                    raise _KeyTaken()
            return JSONResponse(body, status_code=status), result
        except (IntegrityError, ConcurrentChange, _KeyTaken):
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")
