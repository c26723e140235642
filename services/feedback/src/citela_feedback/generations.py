"""Generations of what the intake caches per process, bumped by the transaction of a change.

Every POST of feedback needs the partner's key, the tenant's rules and territory, and whether
the entry may be rated: each worker process keeps them in memory (citela_feedback.lookups),
each value with the generation of its scope when it was read. A request reads the current
generations in its first query and reads again any value of an older generation. A change
bumps its scope in its own transaction, so once it has committed no process acts on the old
value, whichever process made it (another API worker, the CLI, the catalogue projection).

Scopes: ``partners`` (API keys and partner apps, all tenants) and ``tenant:<code>`` (the tenant
and its catalogue read model). ORM changes to those tables are noticed at flush; code writing
them with Core statements calls ``touch``.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from citela_feedback.models import (
    ApiKey,
    CacheGeneration,
    CatalogueEntry,
    PartnerApp,
    Tenant,
    Territory,
)

PARTNERS = "partners"
_PENDING = "citela_feedback_generations"
_TABLE: Table = CacheGeneration.__table__  # type: ignore[assignment]


def tenant_scope(code: str) -> str:
    return f"tenant:{code}"


def touch(session: Session, *scopes: str) -> None:
    """Bump these scopes when the session's transaction commits."""
    pending: set[str] = session.info.setdefault(_PENDING, set())
    pending.update(scopes)


def _scope_of(obj: object) -> str | None:
    if isinstance(obj, ApiKey | PartnerApp):
        return PARTNERS
    if isinstance(obj, Tenant | CatalogueEntry | Territory) and obj.tenant_id is not None:
        return tenant_scope(obj.tenant_id)
    return None


@event.listens_for(Session, "before_flush")
def _collect(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in chain(session.new, session.dirty, session.deleted):
        scope = _scope_of(obj)
        if scope is not None:
            touch(session, scope)


@event.listens_for(Session, "before_commit")
def _bump_on_commit(session: Session) -> None:
    if session.new or session.dirty or session.deleted:
        session.flush()  # what it writes is collected by _collect
    scopes = session.info.pop(_PENDING, None)
    if scopes:
        bump(session, sorted(scopes))  # one order for all: no deadlock between two bumpers


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


def bump(session: Session, scopes: list[str]) -> None:
    """Add one to each scope's generation, now, in the session's transaction."""
    conn = session.connection()
    dialect = conn.dialect.name
    insert: Any = postgresql.insert(_TABLE) if dialect == "postgresql" else sqlite.insert(_TABLE)
    stmt = insert.on_conflict_do_update(
        index_elements=[_TABLE.c.scope],
        set_={"generation": _TABLE.c.generation + 1},
    )
    conn.execute(stmt, [{"scope": s, "generation": 1} for s in scopes])
