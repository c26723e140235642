"""Weekly snapshots of the matrix, for trends.

A snapshot of week W is the matrix over every answer submitted up to the end of W (Sunday,
French time), with the tenant's settings of the moment, frozen as the API returned it. The
weekly Celery beat job takes last week's snapshot of every tenant; a week without one (a
platform started later, the embedded mode without beat) is backfilled from the facts when
trends are asked for, and marked so.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citela_analytics import queries, synthesis
from citela_analytics.domain.matrix import Scope
from citela_analytics.domain.periods import week_start
from citela_analytics.models import FeedbackFact, Snapshot
from citela_analytics.queries import Period
from citela_analytics.schemas import MatrixOut, TrendPointOut, TrendSeriesOut
from citela_common.db import utcnow


def take(
    session: Session, tenant: str, week: date, default_min_answers: int, *, backfilled: bool
) -> Snapshot:
    """(Re)take the snapshot of the week starting on Monday ``week``."""
    week = week_start(week)
    end = week + timedelta(days=6)
    settings = synthesis.settings_for(session, tenant, default_min_answers)
    matrix, _known = queries.matrix(session, tenant, Period(None, end), settings)
    payload = MatrixOut.of(tenant, None, end, matrix, None).model_dump(mode="json", by_alias=True)
    row = session.get(Snapshot, (tenant, week))
    if row is None:
        row = Snapshot(tenant_id=tenant, week_start=week)
        session.add(row)
    row.taken_at = utcnow()
    row.backfilled = backfilled
    row.matrix = payload
    session.flush()
    return row


def first_day(session: Session, tenant: str) -> date | None:
    f = FeedbackFact
    value = session.scalar(
        select(func.min(f.day)).where(f.tenant_id == tenant, f.retracted_at.is_(None))
    )
    return value if isinstance(value, date) else None


def ensure(
    session: Session, tenant: str, weeks: list[date], default_min_answers: int
) -> dict[date, Snapshot]:
    """The snapshots of ``weeks``, backfilling the missing ones that follow the first answer."""
    rows = {
        s.week_start: s
        for s in session.scalars(
            select(Snapshot).where(Snapshot.tenant_id == tenant, Snapshot.week_start.in_(weeks))
        )
    }
    first = first_day(session, tenant)
    for week in weeks:
        if week not in rows and first is not None and week + timedelta(days=6) >= first:
            rows[week] = take(session, tenant, week, default_min_answers, backfilled=True)
    return rows


def series(
    snapshots: dict[date, Snapshot], scope: Scope, key: str | None = None
) -> list[TrendSeriesOut]:
    """One series per cell of ``scope`` (or only ``key``), a point per week it has answers."""
    plural = "services" if scope is Scope.SERVICE else "areas"
    found: dict[str, TrendSeriesOut] = {}
    for week in sorted(snapshots):
        snap = snapshots[week]
        matrix: dict[str, Any] = snap.matrix
        for p in matrix.get(plural, []):
            if key is not None and p["key"] != key:
                continue
            s = found.setdefault(
                p["key"], TrendSeriesOut(scope=scope, key=p["key"], label=p["label"], points=[])
            )
            s.label = p["label"]
            s.points.append(
                TrendPointOut(
                    week_start=week,
                    backfilled=snap.backfilled,
                    n=p["n"],
                    importance=p["importance"]["mean"],
                    satisfaction=p["satisfaction"]["mean"],
                    gap=p["gap"]["mean"],
                    quadrant=p["quadrant"],
                    status=p["status"],
                    priority=p["priority"],
                )
            )
    return sorted(found.values(), key=lambda s: (s.label.casefold(), s.key))
