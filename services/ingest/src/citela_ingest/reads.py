"""The ingest service's reads: a tenant's harvest runs and their records, page by page.

Plain functions of a session already scoped to the tenant.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from citela_common.web.pagination import Page, decode_cursor, encode_cursor
from citela_ingest.models import HarvestItem, HarvestRun
from citela_ingest.schemas import ItemOut, RunOut


class UnknownRun(LookupError):
    """No harvest run has this id for the tenant."""


def runs_page(session: Session, source: str | None, cursor: str | None, limit: int) -> Page[RunOut]:
    """Runs, newest first, after ``cursor`` (keyset on start time and id)."""
    stmt = select(HarvestRun)
    if source:
        stmt = stmt.where(HarvestRun.source == source)
    if cursor:
        started, run_id = decode_cursor(cursor, 2)
        started_at = datetime.fromisoformat(started)
        stmt = stmt.where(
            or_(
                HarvestRun.started_at < started_at,
                and_(HarvestRun.started_at == started_at, HarvestRun.id < run_id),
            )
        )
    order = (HarvestRun.started_at.desc(), HarvestRun.id.desc())
    runs = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    more = len(runs) > limit
    runs = runs[:limit]
    next_cursor = encode_cursor([runs[-1].started_at.isoformat(), runs[-1].id]) if more else None
    return Page[RunOut](items=[RunOut.of(r) for r in runs], next_cursor=next_cursor)


def run(session: Session, run_id: str) -> RunOut:
    found = session.scalar(select(HarvestRun).where(HarvestRun.id == run_id))
    if found is None:
        raise UnknownRun(run_id)
    return RunOut.of(found)


def items_page(
    session: Session, run_id: str, status: str | None, cursor: str | None, limit: int
) -> Page[ItemOut]:
    """The records of a run in the order it met them, after ``cursor``."""
    if session.scalar(select(HarvestRun.id).where(HarvestRun.id == run_id)) is None:
        raise UnknownRun(run_id)
    stmt = select(HarvestItem).where(HarvestItem.run_id == run_id)
    if status:
        stmt = stmt.where(HarvestItem.status == status)
    if cursor:
        stmt = stmt.where(HarvestItem.id > int(decode_cursor(cursor, 1)[0]))
    items = list(session.scalars(stmt.order_by(HarvestItem.id).limit(limit + 1)))
    more = len(items) > limit
    items = items[:limit]
    return Page[ItemOut](
        items=[ItemOut.model_validate(i, from_attributes=True) for i in items],
        next_cursor=encode_cursor([items[-1].id]) if more else None,
    )
