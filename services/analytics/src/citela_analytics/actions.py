"""What the staff's writes through the API do: ask for a report, change the matrix settings.

(Recomputing and snapshots are jobs: see jobs.py, which the API and the CLI share.)
"""

from __future__ import annotations

from citela_analytics import queries, reports
from citela_analytics.context import AnalyticsContext
from citela_analytics.domain.matrix import CrosshairMode
from citela_analytics.gateway import REPORT_TASK
from citela_analytics.models import Report, TenantSettings
from citela_analytics.queries import Period
from citela_analytics.reads import tenant_settings
from citela_analytics.schemas import TenantSettingsOut
from citela_common.db import Database, utcnow
from citela_common.tenancy import scope_to_tenant


def request_report(
    ctx: AnalyticsContext,
    db: Database,
    tenant: str,
    period: Period,
    crosshair: CrosshairMode | None,
    requested_by: str | None,
) -> str:
    """Record a report request and have it built: at once for a small tenant (and always
    when embedded), by a Celery worker otherwise. The report's id."""
    with db.transaction() as session:
        scope_to_tenant(session, tenant)
        row = Report(
            id=reports.new_id(),
            tenant_id=tenant,
            status=reports.ReportStatus.PENDING,
            period_start=period.start,
            period_end=period.end,
            crosshair_mode=crosshair.value if crosshair else None,
            requested_by=requested_by,
            requested_at=utcnow(),
        )
        session.add(row)
        answers = queries.answers(session, tenant)
    if ctx.tasks.eager or answers < ctx.settings.analytics_report_async_min_answers:
        reports.build(db, tenant, row.id, ctx.min_answers)
    else:
        ctx.tasks.send(REPORT_TASK, tenant, row.id)
    return row.id


def change_settings(
    ctx: AnalyticsContext,
    db: Database,
    tenant: str,
    crosshair: CrosshairMode,
    min_answers: int,
    updated_by: str | None,
) -> TenantSettingsOut:
    """Store the tenant's matrix settings; its cached reads are dropped (new generation)."""
    with db.transaction() as session:
        scope_to_tenant(session, tenant)
        row = session.get(TenantSettings, tenant)
        if row is None:
            row = TenantSettings(tenant_id=tenant)
            session.add(row)
        row.crosshair_mode = crosshair.value
        row.min_answers = min_answers
        row.updated_at = utcnow()
        row.updated_by = updated_by
        session.flush()
        out = tenant_settings(session, tenant, ctx.min_answers)
    ctx.cache.bump(tenant)
    return out
