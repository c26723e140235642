"""The matrix's running sums in the database: incremental updates and exact recomputation.

One row per (tenant, service, local day) holds n, Σimportance, Σimportance², Σsatisfaction,
Σsatisfaction² and Σgap². An event adds or removes one answer's contribution with an atomic
``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n …`` (PostgreSQL and SQLite alike; a
batch of events sums its deltas per cell first and upserts them in one statement); a
row whose n falls to 0 is deleted, so the table always equals what a recomputation from the
facts would write. Per tenant, updates and recomputations are serialised by a transaction
advisory lock on PostgreSQL (SQLite's BEGIN IMMEDIATE serialises writers already).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import cast

from sqlalchemy import BigInteger, Table, bindparam, delete, func, select, text
from sqlalchemy.orm import Session

from citela_analytics.domain.stats import Sums
from citela_analytics.models import FeedbackFact, MatrixCell
from citela_common import bulk

CellKey = tuple[str, date]  # (entry id, local day)
CELLS = cast(Table, MatrixCell.__table__)
SUM_COLUMNS = ("n", "sum_imp", "sum_imp_sq", "sum_sat", "sum_sat_sq", "sum_gap_sq")


_LOCK = select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))


def _lock_key(tenant: str) -> int:
    return zlib.crc32(f"citela-analytics-cells:{tenant}".encode()) & 0x7FFFFFFF


def lock_tenant(session: Session, tenant: str) -> None:
    """Serialise this tenant's matrix writers until the end of the transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK, {"key": _lock_key(tenant)})


_LOCK_MANY = text(
    "SELECT pg_advisory_xact_lock(k) FROM"
    " (SELECT k FROM unnest(CAST(:keys AS BIGINT[])) AS k ORDER BY k) AS ordered"
)


def lock_tenants(session: Session, tenants: Iterable[str]) -> None:
    """``lock_tenant`` for several tenants in one statement, always in the same order."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK_MANY, {"keys": sorted({_lock_key(t) for t in tenants})})


_ADD = bulk.OnConflict(("tenant_id", "entry_id", "day"), add=SUM_COLUMNS)
TenantCellKey = tuple[str, str, date]  # (tenant, entry id, local day)


def add(session: Session, tenant: str, entry_id: str, day: date, sums: Sums) -> None:
    """Add ``sums`` (possibly negative: a removal) to one cell."""
    add_many(session, {(tenant, entry_id, day): sums})


def add_many(session: Session, deltas: Mapping[TenantCellKey, Sums]) -> None:
    """Add each cell's summed delta: one upsert for all, one delete of those emptied."""
    # In key order, so that two writers would take row locks alike.
    changed = sorted(
        ((key, sums) for key, sums in deltas.items() if sums != Sums()), key=lambda kv: kv[0]
    )
    if not changed:
        return
    bulk.write(
        session,
        CELLS,
        [{"tenant_id": t, "entry_id": e, "day": d, **_as_columns(s)} for (t, e, d), s in changed],
        on_conflict=_ADD,
    )
    bulk.delete_keys(
        session,
        CELLS,
        ("tenant_id", "entry_id", "day"),
        [key for key, s in changed if s.n < 0],
        pg_condition="t.n <= 0",
        condition=CELLS.c.n <= 0,
    )


def _as_columns(sums: Sums) -> dict[str, int]:
    return {c: getattr(sums, c) for c in SUM_COLUMNS}


def _from_row(row: Iterable[int]) -> Sums:
    return Sums(*(int(v or 0) for v in row))


def sums_by_entry(
    session: Session, tenant: str, start: date | None = None, end: date | None = None
) -> dict[str, Sums]:
    """Each service's sums over the days [start, end] (inclusive; None: unbounded)."""
    t = CELLS
    stmt = select(t.c.entry_id, *(func.sum(t.c[c]) for c in SUM_COLUMNS)).where(
        t.c.tenant_id == tenant
    )
    if start is not None:
        stmt = stmt.where(t.c.day >= start)
    if end is not None:
        stmt = stmt.where(t.c.day <= end)
    stmt = stmt.group_by(t.c.entry_id)
    return {row[0]: _from_row(row[1:]) for row in session.execute(stmt)}


def stored_cells(session: Session, tenant: str) -> dict[CellKey, Sums]:
    t = CELLS
    rows = session.execute(
        select(t.c.entry_id, t.c.day, *(t.c[c] for c in SUM_COLUMNS)).where(t.c.tenant_id == tenant)
    )
    return {(r[0], r[1]): _from_row(r[2:]) for r in rows}


def exact_cells(facts: Iterable[tuple[str, date, int, int]]) -> dict[CellKey, Sums]:
    """The cells recomputed from scratch: (entry, day, importance, satisfaction) answers."""
    out: dict[CellKey, Sums] = {}
    for entry_id, day, importance, satisfaction in facts:
        key = (entry_id, day)
        out[key] = out.get(key, Sums()) + Sums.of(importance, satisfaction)
    return out


def current_answers(session: Session, tenant: str) -> list[tuple[str, date, int, int]]:
    f = FeedbackFact
    rows = session.execute(
        select(f.entry_id, f.day, f.importance, f.satisfaction).where(
            f.tenant_id == tenant,
            f.retracted_at.is_(None),
            f.importance.is_not(None),
            f.satisfaction.is_not(None),
            f.day.is_not(None),
        )
    )
    return [(r[0], r[1], int(r[2] or 0), int(r[3] or 0)) for r in rows if r[1] is not None]


@dataclass(frozen=True)
class Recomputed:
    tenant: str
    cells: int  # cells after the recomputation
    drifted: int  # cells whose incremental sums differed from the exact ones
    answers: int


def recompute(session: Session, tenant: str) -> Recomputed:
    """Rebuild the tenant's cells exactly from the facts; report how many had drifted."""
    lock_tenant(session, tenant)
    answers = current_answers(session, tenant)
    exact = exact_cells(answers)
    stored = stored_cells(session, tenant)
    drifted = sum(1 for k in exact.keys() | stored.keys() if exact.get(k) != stored.get(k))
    if drifted:
        t = CELLS
        session.execute(delete(t).where(t.c.tenant_id == tenant))
        if exact:
            session.execute(
                t.insert(),
                [
                    {"tenant_id": tenant, "entry_id": e, "day": d, **_as_columns(s)}
                    for (e, d), s in exact.items()
                ],
            )
    return Recomputed(tenant, len(exact), drifted, len(answers))


def tenants(session: Session) -> list[str]:
    """Every tenant with facts."""
    return list(session.scalars(select(FeedbackFact.tenant_id).distinct()))
