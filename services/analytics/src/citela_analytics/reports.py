"""Synthesis reports: requested through the API, built in the background, kept as HTML."""

from __future__ import annotations

import uuid
from enum import StrEnum

from citela_analytics import synthesis
from citela_analytics.domain.matrix import CrosshairMode
from citela_analytics.models import Report
from citela_analytics.queries import Period
from citela_common.db import Database, utcnow
from citela_common.logging import get_logger
from citela_common.tenancy import scope_to_tenant

log = get_logger(__name__)


class ReportStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


def new_id() -> str:
    return uuid.uuid4().hex


def build(db: Database, tenant: str, report_id: str, default_min_answers: int) -> ReportStatus:
    """Build the report's HTML; idempotent (a report already built is left as it is)."""
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
            row.html = synthesis.report_html(
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
