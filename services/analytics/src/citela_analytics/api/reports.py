"""Synthesis reports: asked for, followed, read (their content; the web renders them)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from citela_analytics import actions, reads
from citela_analytics.api.deps import Context, Reader, Runtime, TenantRead, period_of, tenant_router
from citela_analytics.domain.matrix import CrosshairMode
from citela_analytics.models import Report
from citela_analytics.reports import ReportStatus
from citela_analytics.schemas import PeriodOut, ReportContentOut, ReportIn, ReportOut
from citela_common.web import Problem
from citela_common.web.params import TenantCode
from citela_common.web.problems import PROBLEM_JSON

router = tenant_router()


def report_out(request: Request, tenant: str, row: Report) -> ReportOut:
    base = f"{request.scope.get('root_path', '')}/v1/tenants/{tenant}/reports/{row.id}"
    return ReportOut(
        id=row.id,
        status=row.status,
        period=PeriodOut(start=row.period_start, end=row.period_end),
        crosshair_mode=CrosshairMode(row.crosshair_mode) if row.crosshair_mode else None,
        requested_at=row.requested_at,
        finished_at=row.finished_at,
        error=row.error,
        status_url=base,
        content_url=f"{base}/content" if row.status == ReportStatus.DONE else None,
    )


@router.post(
    "/reports",
    status_code=202,
    response_model=ReportOut,
    summary="Ask for a synthesis report",
    description="Answers 202 with the report's status URL (also in `Location`). Large "
    "tenants' reports are built by a Celery worker; small ones, and every report in the "
    "embedded mode, are built before the answer. The report keeps the matrix, its priorities "
    "and the explanation of the first priorities as they stood; the web portal renders it "
    "as a printable French page.",
)
def create_report(
    request: Request,
    runtime: Runtime,
    ctx: Context,
    read: TenantRead,
    tenant: TenantCode,
    principal: Reader,
    body: ReportIn | None = None,
) -> JSONResponse:
    body = body or ReportIn()
    period = period_of(body.start, body.end)
    report_id = actions.request_report(
        ctx,
        runtime.db,
        tenant,
        period,
        body.crosshair_mode,
        getattr(principal, "account_id", None),
    )
    with read.session() as session:
        out = report_out(request, tenant, reads.report(session, tenant, report_id))
    return JSONResponse(
        out.model_dump(mode="json", by_alias=True),
        status_code=202,
        headers={"Location": out.status_url},
    )


@router.get("/reports/{report_id}", response_model=ReportOut, summary="A report's status")
def get_report(
    request: Request, read: TenantRead, tenant: TenantCode, report_id: str
) -> JSONResponse:
    with read.session() as session:
        out = report_out(request, tenant, reads.report(session, tenant, report_id))
    return JSONResponse(out.model_dump(mode="json", by_alias=True))


@router.get(
    "/reports/{report_id}/content",
    response_model=ReportContentOut,
    summary="What the report says (JSON; the web portal renders it, fit to print)",
    responses={409: {"description": "not built yet", "content": {PROBLEM_JSON: {}}}},
)
def get_report_content(read: TenantRead, tenant: TenantCode, report_id: str) -> JSONResponse:
    with read.session() as session:
        row = reads.report(session, tenant, report_id)
        if row.status != ReportStatus.DONE or row.content is None:
            raise Problem(
                409, f"The report is {row.status}; poll its status URL.", slug="report-not-ready"
            )
        content = row.content
    return JSONResponse(content, headers={"Cache-Control": "private, max-age=3600"})
