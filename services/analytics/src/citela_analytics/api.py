"""HTTP API of the analytics service: the synthesis an authority's staff acts on.

Every route is under ``/v1/tenants/{tenant}`` and needs a staff access token with
``analytics:read`` on that tenant (roles admin or analyst); changing the settings, asking for
a recomputation or a snapshot needs ``tenant:admin``. Partner apps have no access.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures, whose
# annotations name dependencies built inside create_app.

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citela_analytics import cells, queries, reports, snapshots, synthesis
from citela_analytics.domain.matrix import CrosshairMode, Matrix, Point, Scope, point
from citela_analytics.domain.periods import last_complete_week, local_day, weeks_back
from citela_analytics.domain.stats import Sums
from citela_analytics.metrics import RECOMPUTE_SECONDS
from citela_analytics.models import Report, TenantSettings
from citela_analytics.queries import Period, RecentComments, Service
from citela_analytics.schemas import (
    CrosshairsOut,
    DetailOut,
    ExplanationOut,
    MatrixOut,
    PeriodOut,
    PointOut,
    PrioritiesOut,
    RecomputeOut,
    ReportContentOut,
    ReportIn,
    ReportOut,
    TenantSettingsIn,
    TenantSettingsOut,
    TrendsOut,
)
from citela_analytics.tasks import REPORT_TASK, TaskGateway
from citela_common.auth import Authenticator, Permission, Principal, TokenService, UserPrincipal
from citela_common.cache import Cache, Memo
from citela_common.db import utcnow
from citela_common.runtime import ServiceRuntime
from citela_common.tenancy import scope_to_tenant
from citela_common.web import Problem, create_service_app, field_error
from citela_common.web.conditional import conditional_json
from citela_common.web.problems import PROBLEM_JSON

TITLE = "Citéla — synthèse et priorités"
DESCRIPTION = """
The importance × satisfaction (PMA) matrix of each authority, its priorities, and what the
comments say behind each gap. Staff only: a bearer access token with `analytics:read` on the
tenant (roles admin, analyst).

**Figures.** For each service (catalogue entry) and each policy area, over a period of local
French days: **n** answers (current feedbacks: the latest revision of each, retracted ones
excluded); **mean importance** and **mean satisfaction** (1–5), their sample standard
deviations and **95 % confidence intervals** by Student's t (mean ± t(0.975, n − 1) · sd / √n);
the **gap**, importance − satisfaction computed per answer, with its own t interval.
**Crosshairs**: the tenant's grand means over all answers of the period (default) or the scale
midpoint 3 (tenant setting); both are always reported. **Quadrants**: act first (high
importance, low satisfaction), keep up (high, high), secondary (low, low), possible
over-investment (low importance, high satisfaction), where high means ≥ the crosshair.
A cell with fewer answers than the tenant's minimum (default 10) is **not enough answers**
(no quadrant); one whose importance or satisfaction interval contains its crosshair is
**uncertain**. **Priorities**: 1, 2, 3… by quadrant in that order, then by gap, largest first.

**Freshness.** The matrix is maintained incrementally from the feedback events (running sums
per service and day), within seconds of each event; an exact recomputation from the facts
gives the same sums (`POST …/recompute` reports any drift).
"""

Tenant = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="code of the tenant (collectivité)")
]
Start = Annotated[
    date | None, Query(alias="from", description="first local day of the period (included)")
]
End = Annotated[date | None, Query(alias="to", description="last local day of the period")]
Crosshair = Annotated[
    CrosshairMode | None,
    Query(description="override the tenant's crosshair setting for this request"),
]
Territory = Annotated[
    str | None,
    Query(
        max_length=20,
        description="only services located in this commune, EPCI or département (INSEE/SIREN)",
    ),
]
PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in (
        (401, "no valid access token"),
        (403, "the token has no analytics access to this tenant"),
        (404, "unknown service, area or report"),
        (422, "invalid parameter"),
    )
}


def period_of(start: date | None, end: date | None) -> Period:
    if start is not None and end is not None and end < start:
        raise Problem(
            422,
            "`to` is before `from`.",
            slug="validation",
            errors=[field_error("query.to", "must not be before `from`", "range")],
        )
    return Period(start, end)


def _json(model: BaseModel) -> bytes:
    return model.model_dump_json(by_alias=True).encode()


def create_app(runtime: ServiceRuntime) -> FastAPI:
    app = create_service_app(
        "analytics", title=TITLE, description=DESCRIPTION, checks=runtime.readiness_checks()
    )
    settings = runtime.settings
    cache: Cache = runtime.extras["cache"]
    gateway: TaskGateway = runtime.extras["tasks"]
    auth = Authenticator(TokenService(settings))
    reader = auth.permission(Permission.ANALYTICS_READ)
    admin = auth.permission(Permission.TENANT_ADMIN)
    router = APIRouter(
        prefix="/v1/tenants/{tenant}",
        tags=["synthesis"],
        dependencies=[Depends(reader)],
        responses=PROBLEMS,
    )
    default_min = settings.analytics_min_answers

    @contextmanager
    def session_for(tenant: str) -> Iterator[Session]:
        with runtime.db.transaction() as session:
            yield scope_to_tenant(session, tenant)

    @contextmanager
    def reading(tenant: str) -> Iterator[Session]:
        """A read-only unit of work: on SQLite it waits for no writer (the consumers')."""
        with runtime.db.read() as session:
            yield scope_to_tenant(session, tenant)

    # A first view after new feedback asks for the priorities and ten explanations at once:
    # these requests share one matrix and one read of the recent comments (per generation;
    # the short TTL only bounds what a lost Redis generation could serve).
    matrices: Memo[tuple[Matrix, dict[str, Service]]] = Memo(maxsize=64, ttl_s=10.0)
    recents: Memo[RecentComments] = Memo(maxsize=16, ttl_s=10.0)

    def matrix_of(
        session: Session,
        tenant: str,
        generation: int,
        period: Period,
        crosshair: CrosshairMode | None,
        territory: str | None = None,
    ) -> tuple[Matrix, dict[str, Service]]:
        def compute() -> tuple[Matrix, dict[str, Service]]:
            s = synthesis.settings_for(session, tenant, default_min, crosshair)
            return queries.matrix(session, tenant, period, s, territory=territory)

        return matrices.get((tenant, generation, period, crosshair, territory), compute)

    def recent_of(session: Session, tenant: str, generation: int, period: Period) -> RecentComments:
        return recents.get(
            (tenant, generation, period),
            lambda: queries.recent_comments(session, tenant, period),
        )

    def cached(request: Request, tenant: str, build: Callable[[Session, int], bytes]) -> Response:
        generation = cache.generation(tenant)
        key = f"{tenant}:{generation}:{request.url.path}?{request.url.query}"
        body = cache.get(key)
        if body is None:
            with reading(tenant) as session:
                body = build(session, generation)
            cache.set(key, body, 300)
        return conditional_json(request, body, max_age=0, public=False)

    @router.get(
        "/matrix",
        response_model=MatrixOut,
        summary="The importance × satisfaction matrix: services and policy areas",
        description="Every service and policy area with answers in the period, with all "
        "figures (see the schema for each definition), the crosshairs in use and both "
        "possible crosshairs.",
    )
    def get_matrix(
        request: Request,
        tenant: Tenant,
        start: Start = None,
        end: End = None,
        crosshair: Crosshair = None,
        territory: Territory = None,
    ) -> Response:
        period = period_of(start, end)

        def build(session: Session, generation: int) -> bytes:
            m, _ = matrix_of(session, tenant, generation, period, crosshair, territory)
            return _json(MatrixOut.of(tenant, start, end, m, territory))

        return cached(request, tenant, build)

    @router.get(
        "/priorities",
        response_model=PrioritiesOut,
        summary="Priorities: Prio. 1, 2, 3… of the services (or of the policy areas)",
    )
    def get_priorities(
        request: Request,
        tenant: Tenant,
        scope: Annotated[Scope, Query(description="rank services or policy areas")] = (
            Scope.SERVICE
        ),
        start: Start = None,
        end: End = None,
        crosshair: Crosshair = None,
        territory: Territory = None,
    ) -> Response:
        period = period_of(start, end)

        def build(session: Session, generation: int) -> bytes:
            m, _ = matrix_of(session, tenant, generation, period, crosshair, territory)
            return _json(
                PrioritiesOut(
                    tenant=tenant,
                    period=PeriodOut(start=start, end=end),
                    scope=scope,
                    crosshairs=CrosshairsOut.of(m.crosshairs),
                    items=[PointOut.of(p) for p in m.priorities(scope)],
                    not_enough_answers=[
                        PointOut.of(p) for p in m.points(scope) if p.priority is None
                    ],
                )
            )

        return cached(request, tenant, build)

    @router.get(
        "/services/{entry_id:path}",
        response_model=DetailOut,
        summary="One service: its figures, and what its comments say",
        description="The service's point of the matrix, the sentiment distribution of its "
        "comments, the recurring themes of its negative and of its positive comments, and a "
        "few representative quotes (redacted text, as published).",
    )
    def get_service(
        request: Request,
        tenant: Tenant,
        entry_id: str,
        start: Start = None,
        end: End = None,
        crosshair: Crosshair = None,
    ) -> Response:
        period = period_of(start, end)

        def build(session: Session, generation: int) -> bytes:
            m, known = matrix_of(session, tenant, generation, period, crosshair)
            p = m.find(Scope.SERVICE, entry_id)
            service = known.get(entry_id)
            if p is None:
                if service is None:
                    raise Problem(
                        404,
                        f"No service {entry_id!r} in this tenant's catalogue or answers.",
                        slug="unknown-service",
                    )
                p = point(
                    Scope.SERVICE,
                    entry_id,
                    service.title,
                    service.policy_area,
                    Sums(),
                    m.crosshairs,
                    m.settings,
                )
            explanation = synthesis.explain_service(
                session,
                tenant,
                period,
                entry_id,
                service,
                recent_of(session, tenant, generation, period),
            )
            return _json(
                DetailOut(
                    tenant=tenant,
                    period=PeriodOut(start=start, end=end),
                    crosshairs=CrosshairsOut.of(m.crosshairs),
                    point=PointOut.of(p),
                    removed=bool(service and service.removed),
                    explanation=ExplanationOut.of(explanation),
                )
            )

        return cached(request, tenant, build)

    @router.get(
        "/areas/{policy_area}",
        response_model=DetailOut,
        summary="One policy area: its figures, its services, and what their comments say",
    )
    def get_area(
        request: Request,
        tenant: Tenant,
        policy_area: Annotated[str, Path(max_length=100)],
        start: Start = None,
        end: End = None,
        crosshair: Crosshair = None,
    ) -> Response:
        period = period_of(start, end)

        def build(session: Session, generation: int) -> bytes:
            m, _known = matrix_of(session, tenant, generation, period, crosshair)
            p = m.find(Scope.AREA, policy_area)
            if p is None:
                raise Problem(
                    404,
                    f"No answers on policy area {policy_area!r} in the period.",
                    slug="unknown-area",
                )
            members: list[Point] = synthesis.area_entries(m, policy_area)
            explanation = synthesis.explain_entries(
                session,
                tenant,
                period,
                [x.key for x in members],
                recent=recent_of(session, tenant, generation, period),
            )
            return _json(
                DetailOut(
                    tenant=tenant,
                    period=PeriodOut(start=start, end=end),
                    crosshairs=CrosshairsOut.of(m.crosshairs),
                    point=PointOut.of(p),
                    services=[PointOut.of(x) for x in members],
                    explanation=ExplanationOut.of(explanation),
                )
            )

        return cached(request, tenant, build)

    @router.get(
        "/trends",
        response_model=TrendsOut,
        summary="Weekly trends of the matrix, from the weekly snapshots",
        description="One series per service (or policy area), one point per week: the matrix "
        "over every answer submitted up to the end of that week. Weeks without a snapshot "
        "taken at the time are backfilled from the facts (and flagged).",
    )
    def get_trends(
        tenant: Tenant,
        scope: Annotated[Scope, Query()] = Scope.SERVICE,
        key: Annotated[
            str | None, Query(max_length=250, description="one service id or area name")
        ] = None,
        weeks: Annotated[int, Query(ge=1, le=104, description="how many weeks back")] = 12,
    ) -> Response:
        last = last_complete_week(local_day(utcnow()))
        wanted = weeks_back(last, weeks)

        def build() -> TrendsOut:
            with session_for(tenant) as session:
                found = snapshots.ensure(session, tenant, wanted, default_min)
                return TrendsOut(
                    tenant=tenant,
                    weeks=wanted,
                    definition="matrix over every answer submitted up to the end of the week",
                    series=snapshots.series(found, scope, key),
                )

        try:
            body = build()
        except IntegrityError:  # a concurrent request backfilled the same week first
            body = build()
        return JSONResponse(body.model_dump(mode="json"))

    @router.get(
        "/export.csv",
        summary="The matrix as CSV (one row per service and per policy area)",
        description="Columns: " + ", ".join(synthesis.CSV_COLUMNS) + ". Decimal point, "
        "comma separator, UTF-8 (RFC 4180); empty cells where a figure is undefined.",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}}},
    )
    def export_csv(
        tenant: Tenant,
        start: Start = None,
        end: End = None,
        crosshair: Crosshair = None,
        territory: Territory = None,
    ) -> Response:
        period = period_of(start, end)
        with reading(tenant) as session:
            s = synthesis.settings_for(session, tenant, default_min, crosshair)
            m, _ = queries.matrix(session, tenant, period, s, territory=territory)
        name = f"matrice-{tenant}-{start or 'debut'}-{end or 'aujourdhui'}.csv"
        return Response(
            synthesis.matrix_csv(m),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

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
            content_url=f"{base}/content" if row.status == reports.ReportStatus.DONE else None,
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
        tenant: Tenant,
        principal: Annotated[Principal, Depends(reader)],
        body: ReportIn | None = None,
    ) -> JSONResponse:
        body = body or ReportIn()
        period = period_of(body.start, body.end)
        with session_for(tenant) as session:
            row = Report(
                id=reports.new_id(),
                tenant_id=tenant,
                status=reports.ReportStatus.PENDING,
                period_start=period.start,
                period_end=period.end,
                crosshair_mode=body.crosshair_mode.value if body.crosshair_mode else None,
                requested_by=getattr(principal, "account_id", None),
                requested_at=utcnow(),
            )
            session.add(row)
            answers = queries.answers(session, tenant)
        if gateway.eager or answers < settings.analytics_report_async_min_answers:
            reports.build(runtime.db, tenant, row.id, default_min)
        else:
            gateway.send(REPORT_TASK, tenant, row.id)
        with session_for(tenant) as session:
            fresh = session.get(Report, row.id)
            assert fresh is not None
            out = report_out(request, tenant, fresh)
        return JSONResponse(
            out.model_dump(mode="json", by_alias=True),
            status_code=202,
            headers={"Location": out.status_url},
        )

    def find_report(session: Session, tenant: str, report_id: str) -> Report:
        row = session.get(Report, report_id)
        if row is None or row.tenant_id != tenant:
            raise Problem(404, f"No report {report_id!r} for this tenant.", slug="unknown-report")
        return row

    @router.get("/reports/{report_id}", response_model=ReportOut, summary="A report's status")
    def get_report(request: Request, tenant: Tenant, report_id: str) -> JSONResponse:
        with reading(tenant) as session:
            out = report_out(request, tenant, find_report(session, tenant, report_id))
        return JSONResponse(out.model_dump(mode="json", by_alias=True))

    @router.get(
        "/reports/{report_id}/content",
        response_model=ReportContentOut,
        summary="What the report says (JSON; the web portal renders it, fit to print)",
        responses={409: {"description": "not built yet", "content": {PROBLEM_JSON: {}}}},
    )
    def get_report_content(tenant: Tenant, report_id: str) -> JSONResponse:
        with reading(tenant) as session:
            row = find_report(session, tenant, report_id)
            if row.status != reports.ReportStatus.DONE or row.content is None:
                raise Problem(
                    409,
                    f"The report is {row.status}; poll its status URL.",
                    slug="report-not-ready",
                )
            content = row.content
        return JSONResponse(content, headers={"Cache-Control": "private, max-age=3600"})

    def settings_out(tenant: str, session: Session) -> TenantSettingsOut:
        row = session.get(TenantSettings, tenant)
        if row is None:
            return TenantSettingsOut(
                crosshair_mode=CrosshairMode.GRAND_MEANS,
                min_answers=default_min,
                default=True,
                updated_at=None,
                updated_by=None,
            )
        return TenantSettingsOut(
            crosshair_mode=CrosshairMode(row.crosshair_mode),
            min_answers=row.min_answers,
            default=False,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )

    @router.get(
        "/settings", response_model=TenantSettingsOut, summary="The tenant's matrix settings"
    )
    def get_settings(tenant: Tenant) -> TenantSettingsOut:
        with reading(tenant) as session:
            return settings_out(tenant, session)

    @router.put(
        "/settings",
        response_model=TenantSettingsOut,
        summary="Change the tenant's matrix settings (tenant admins)",
    )
    def put_settings(
        tenant: Tenant,
        body: TenantSettingsIn,
        principal: Annotated[Principal, Depends(admin)],
    ) -> TenantSettingsOut:
        with session_for(tenant) as session:
            row = session.get(TenantSettings, tenant)
            if row is None:
                row = TenantSettings(tenant_id=tenant)
                session.add(row)
            row.crosshair_mode = body.crosshair_mode.value
            row.min_answers = body.min_answers
            row.updated_at = utcnow()
            row.updated_by = principal.account_id if isinstance(principal, UserPrincipal) else None
            session.flush()
            out = settings_out(tenant, session)
        cache.bump(tenant)
        return out

    @router.post(
        "/recompute",
        response_model=RecomputeOut,
        summary="Recompute the matrix exactly from the facts (tenant admins)",
        description="Rebuilds the running sums from the stored facts and reports how many "
        "cells had drifted from the incremental maintenance (0 is expected).",
        dependencies=[Depends(admin)],
    )
    def post_recompute(tenant: Tenant) -> RecomputeOut:
        started = time.perf_counter()
        with session_for(tenant) as session:
            done = cells.recompute(session, tenant)
        duration = time.perf_counter() - started
        RECOMPUTE_SECONDS.observe(duration)
        cache.bump(tenant)
        return RecomputeOut(
            tenant=tenant,
            answers=done.answers,
            cells=done.cells,
            drifted_cells=done.drifted,
            duration_s=duration,
        )

    @router.post(
        "/snapshots",
        summary="Take (again) the snapshot of one week now (tenant admins)",
        dependencies=[Depends(admin)],
    )
    def post_snapshot(
        tenant: Tenant,
        week: Annotated[
            date | None, Query(description="any day of the week; default: last full week")
        ] = None,
    ) -> dict[str, Any]:
        day = week or last_complete_week(local_day(utcnow()))
        with session_for(tenant) as session:
            row = snapshots.take(session, tenant, day, default_min, backfilled=False)
            week_start = row.week_start
        return {"tenant": tenant, "week_start": week_start.isoformat()}

    app.include_router(router)
    return app
