"""Synthesis reports: requested through the API, built in the background, kept as JSON.

A report is what the matrix and the explanations of its first priorities said when it was
built; the web portal renders it (the same chart and tables as the dashboard, fit to print).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from citela_analytics import queries, synthesis
from citela_analytics.domain.matrix import CrosshairMode, MatrixSettings, Scope
from citela_analytics.models import Report
from citela_analytics.queries import Period
from citela_analytics.schemas import ExplainedOut, ExplanationOut, MatrixOut, ReportContentOut
from citela_common.db import Database, utcnow
from citela_common.logging import get_logger
from citela_common.tenancy import scope_to_tenant

log = get_logger(__name__)

EXPLAINED = 10  # services whose comments a report explains, by priority


class ReportStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


def new_id() -> str:
    return uuid.uuid4().hex


def content(
    session: Session,
    tenant: str,
    period: Period,
    settings: MatrixSettings,
    generated_at: datetime,
) -> dict[str, Any]:
    """What the report says (``ReportContentOut`` as JSON), in the caller's tenant session."""
    matrix, known = queries.matrix(session, tenant, period, settings)
    recent = queries.recent_comments(session, tenant, period)
    explained = [
        ExplainedOut(
            key=p.key,
            explanation=ExplanationOut.of(
                synthesis.explain_service(session, tenant, period, p.key, known.get(p.key), recent)
            ),
        )
        for p in matrix.priorities(Scope.SERVICE)[:EXPLAINED]
    ]
    out = ReportContentOut(
        tenant=tenant,
        generated_at=generated_at,
        matrix=MatrixOut.of(tenant, period.start, period.end, matrix, None),
        explained=explained,
    )
    return out.model_dump(mode="json", by_alias=True)


def build(db: Database, tenant: str, report_id: str, default_min_answers: int) -> ReportStatus:
    """Build the report's content; idempotent (a report already built is left as it is)."""
    try:
        with db.transaction() as session:
            scope_to_tenant(session, tenant)
            row = session.get(Report, report_id)
            if row is None:
                raise LookupError(f"no report {report_id} for tenant {tenant}")
            if row.status == ReportStatus.DONE:
                return ReportStatus.DONE
            mode = CrosshairMode(row.crosshair_mode) if row.crosshair_mode else None
            settings = synthesis.settings_for(session, tenant, default_min_answers, mode)
            now = utcnow()
            row.content = content(
                session, tenant, Period(row.period_start, row.period_end), settings, now
            )
            row.status = ReportStatus.DONE
            row.finished_at = now
            row.error = None
        return ReportStatus.DONE
    except LookupError:
        raise
    except Exception as exc:
        log.exception("analytics.report_failed", tenant=tenant, report=report_id, error=repr(exc))
        with db.transaction() as session:
            scope_to_tenant(session, tenant)
            row = session.get(Report, report_id)
            if row is not None:
                row.status = ReportStatus.FAILED
                row.error = f"{type(exc).__name__}: {exc}"[:2000]
                row.finished_at = utcnow()
        return ReportStatus.FAILED
