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
from sqlalchemy import Connection, Table, and_, bindparam, literal, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citela_common.auth import Principal, unauthenticated
from citela_common.db import utcnow
from citela_common.tenancy import scope_to_tenant
from citela_common.web import Problem
from citela_feedback import idempotency, tenants
from citela_feedback.context import FeedbackContext
from citela_feedback.domain.rules import Violation
from citela_feedback.generations import PARTNERS, tenant_scope
from citela_feedback.intake import FEEDBACK_COLUMNS, FEEDBACKS, ConcurrentChange, Intake
from citela_feedback.lookups import Lookups, TenantInfo
from citela_feedback.models import CacheGeneration, IdempotencyRecord
from citela_feedback.pending import Answer, Caller, Pending, Work, principal_key

ATTEMPTS = 3  # a unit of work lost to a concurrent duplicate is replayed, then sees it

_GENERATIONS = cast(Table, CacheGeneration.__table__)
_KEYS = cast(Table, IdempotencyRecord.__table__)


def _generations() -> tuple[Any, Any, Any]:
    """The partners' and the tenant's generations, joined to one row: what both heads read
    first (the join, and the two aliases to select from)."""
    partners = _GENERATIONS.alias("g_partners")
    tenant = _GENERATIONS.alias("g_tenant")
    one = select(literal(1).label("one")).subquery("one")
    joined = one.outerjoin(partners, partners.c.scope == PARTNERS).outerjoin(
        tenant, tenant.c.scope == bindparam("h_scope")
    )
    return joined, partners.c.generation.label("g_partners"), tenant.c.generation.label("g_tenant")


_KEY_RECORD = (_KEYS.c.request_hash, _KEYS.c.status_code, _KEYS.c.response, _KEYS.c.expires_at)


def _head_statement() -> Any:
    joined, g_partners, g_tenant = _generations()
    joined = joined.outerjoin(
        FEEDBACKS,
        and_(
            FEEDBACKS.c.tenant_id == bindparam("h_tenant"),
            FEEDBACKS.c.current_key == bindparam("h_current"),
        ),
    ).outerjoin(
        _KEYS,
        and_(
            _KEYS.c.tenant_id == bindparam("h_tenant"),
            _KEYS.c.principal == bindparam("h_principal"),
            _KEYS.c.key == bindparam("h_key"),
        ),
    )
    return select(
        g_partners, g_tenant, *(FEEDBACKS.c[c] for c in FEEDBACK_COLUMNS), *_KEY_RECORD
    ).select_from(joined)


_HEAD = _head_statement()


def _group_head_statement() -> Any:
    """The generations and the records of many keys (one row per key found, else one row)."""
    joined, g_partners, g_tenant = _generations()
    joined = joined.outerjoin(
        _KEYS,
        and_(
            _KEYS.c.tenant_id == bindparam("h_tenant"),
            tuple_(_KEYS.c.principal, _KEYS.c.key).in_(bindparam("h_keys", expanding=True)),
        ),
    )
    return select(g_partners, g_tenant, _KEYS.c.principal, _KEYS.c.key, *_KEY_RECORD).select_from(
        joined
    )


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
    return Head(
        partners_generation=int(row["g_partners"] or 0),
        tenant_generation=int(row["g_tenant"] or 0),
        current=row if row["id"] is not None else None,
        stored=_stored(row),
    )


def _stored(row: Mapping[Any, Any]) -> idempotency.Stored | None:
    if row["request_hash"] is None:
        return None
    return idempotency.Stored(
        row["request_hash"], row["status_code"], row["response"], row["expires_at"]
    )


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
    stored = {(r["principal"], r["key"]): found for r in rows if (found := _stored(r)) is not None}
    first = rows[0]
    return GroupHead(int(first["g_partners"] or 0), int(first["g_tenant"] or 0), stored)


def _verdict(
    lookups: Lookups, session: Session, tenant: TenantInfo, generation: int, entry_id: str
) -> Violation | None:
    return lookups.entry_violation(session, tenant, entry_id, generation)


class _KeyTaken(Exception):
    """A concurrent request with the same Idempotency-Key committed first."""


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
        unit = _unit(ctx, session, tenant, head.tenant_generation)
        if unit is not None:
            unit.prefetch_keys(p.current_key for p in group if p.current_key is not None)
        now = utcnow()
        claims: list[dict[str, Any]] = []
        for pending, key in checked:
            try:
                principal = _fresh_principal(ctx, pending, head.partners_generation)
                if unit is None:
                    raise tenants.unknown_tenant(tenant)
                who = principal_key(pending.caller.principal)
                stored = head.stored.get((who, key)) if key is not None else None
                answer, claim = _settle(ctx, unit, pending, principal, key, stored, now)
            except Problem as problem:
                answers.append(problem)
                continue
            except Exception as exc:  # a fault, not a refusal: each request on its own
                raise _Abandon() from exc
            answers.append(answer)
            if claim is not None:
                claims.append(claim)
        if unit is not None and not unit.write(now, claims):
            raise _KeyTaken()
    return answers


def _unit(ctx: FeedbackContext, session: Session, tenant: str, generation: int) -> Intake | None:
    """The unit of intake of ``tenant`` in ``session``'s transaction (None: no such tenant)."""
    info = ctx.lookups.tenant(session, tenant, generation)
    if info is None:
        return None
    return Intake(
        session,
        tenant,
        info.rules,
        ctx.secret,
        verdict=partial(_verdict, ctx.lookups, session, info, generation),
    )


def _fresh_principal(ctx: FeedbackContext, pending: Pending, generation: int) -> Principal:
    """The caller as of this transaction: a partner's key revoked (401) or changed since it
    was cached (authorized again) applies at once."""
    principal = pending.caller.principal
    if pending.caller.partner is not None:
        fresh = ctx.lookups.current_partner(pending.caller.partner, generation)
        if fresh is None:
            raise unauthenticated("The API key is unknown or revoked.")
        if fresh != principal:
            principal = fresh
            pending.authorize(principal)
    return principal


def _settle(
    ctx: FeedbackContext,
    unit: Intake,
    pending: Pending,
    principal: Principal,
    key: str | None,
    stored: idempotency.Stored | None,
    now: datetime,
) -> tuple[Answer, dict[str, Any] | None]:
    """One request in ``unit``: its account checked, then its key's replay or its work (staged
    in ``unit``) with the key's record to write (None without a key)."""
    pending.confirm(unit.session, principal)
    if key is not None:
        replayed = idempotency.replay(stored, pending.fingerprint, now)
        if replayed is not None:
            return (_replayed(replayed), None), None
    status, result = pending.work(unit, now)
    body = result.model_dump(mode="json")
    claim = None
    if key is not None:
        claim = idempotency.claim_row(
            tenant=pending.tenant,
            principal=principal_key(pending.caller.principal),
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
) -> Answer:
    """Run ``work`` in a unit of intake of ``tenant`` under an optional Idempotency-Key.

    ``authorize`` runs again when the partner's key changed since it was cached (403),
    ``confirm`` checks a citizen's account in the transaction. Returns the response, and the
    result (None for a replay).
    """
    return run_pending(
        ctx,
        Pending(tenant, caller, key, fingerprint, authorize, confirm, work, current_key),
    )


def run_pending(ctx: FeedbackContext, pending: Pending) -> Answer:
    """One request in a transaction of its own (replayed when a concurrent one wins)."""
    key = idempotency.check_key(pending.key)
    tenant = pending.tenant
    who = principal_key(pending.caller.principal)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with ctx.db.transaction() as session:
                scope_to_tenant(session, tenant)
                head = read_head(session.connection(), tenant, pending.current_key, who, key)
                principal = _fresh_principal(ctx, pending, head.partners_generation)
                unit = _unit(ctx, session, tenant, head.tenant_generation)
                if unit is None:
                    raise tenants.unknown_tenant(tenant)
                if pending.current_key is not None:
                    unit.known(pending.current_key, head.current)
                now = utcnow()
                answer, claim = _settle(ctx, unit, pending, principal, key, head.stored, now)
                if answer[1] is None:  # a replay: nothing to write
                    return answer
                if not unit.write(now, () if claim is None else (claim,)):
                    raise _KeyTaken()
            return answer
        except (IntegrityError, ConcurrentChange, _KeyTaken):
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")
