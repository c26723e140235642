"""What the synthesis API answers, built in a read session scoped to the tenant.

Each function takes the caller's session and returns the response model; a lookup that finds
nothing raises one of the ``NotFound`` errors, which the API answers with a 404.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citela_analytics import queries, snapshots, synthesis
from citela_analytics.domain.matrix import CrosshairMode, Matrix, Scope, point
from citela_analytics.domain.periods import last_complete_week, local_day, weeks_back
from citela_analytics.domain.stats import Sums
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
    TenantSettingsOut,
    TrendsOut,
)
from citela_common.cache import Memo
from citela_common.db import Database, utcnow
from citela_common.tenancy import scope_to_tenant


class NotFound(LookupError):
    """What a request names does not exist for this tenant."""


class UnknownService(NotFound):
    pass


class UnknownArea(NotFound):
    pass


class UnknownReport(NotFound):
    pass


class SharedReads:
    """The matrix and the recent comments, shared by the requests of one view.

    A first view after new feedback asks for the priorities and ten explanations at once:
    these requests share one matrix and one read of the recent comments (per cache generation;
    the short TTL only bounds what a lost Redis generation could serve).
    """

    def __init__(self, default_min_answers: int) -> None:
        self.default_min_answers = default_min_answers
        self._matrices: Memo[tuple[Matrix, dict[str, Service]]] = Memo(maxsize=64, ttl_s=10.0)
        self._recents: Memo[RecentComments] = Memo(maxsize=16, ttl_s=10.0)

    def matrix(
        self,
        session: Session,
        tenant: str,
        generation: int,
        period: Period,
        crosshair: CrosshairMode | None,
        territory: str | None = None,
    ) -> tuple[Matrix, dict[str, Service]]:
        def compute() -> tuple[Matrix, dict[str, Service]]:
            s = synthesis.settings_for(session, tenant, self.default_min_answers, crosshair)
            return queries.matrix(session, tenant, period, s, territory=territory)

        return self._matrices.get((tenant, generation, period, crosshair, territory), compute)

    def recent(
        self, session: Session, tenant: str, generation: int, period: Period
    ) -> RecentComments:
        return self._recents.get(
            (tenant, generation, period),
            lambda: queries.recent_comments(session, tenant, period),
        )


def matrix(
    reads: SharedReads,
    session: Session,
    tenant: str,
    generation: int,
    period: Period,
    crosshair: CrosshairMode | None,
    territory: str | None,
) -> MatrixOut:
    m, _ = reads.matrix(session, tenant, generation, period, crosshair, territory)
    return MatrixOut.of(tenant, period.start, period.end, m, territory)


def priorities(
    reads: SharedReads,
    session: Session,
    tenant: str,
    generation: int,
    period: Period,
    scope: Scope,
    crosshair: CrosshairMode | None,
    territory: str | None,
) -> PrioritiesOut:
    m, _ = reads.matrix(session, tenant, generation, period, crosshair, territory)
    return PrioritiesOut(
        tenant=tenant,
        period=PeriodOut(start=period.start, end=period.end),
        scope=scope,
        crosshairs=CrosshairsOut.of(m.crosshairs),
        items=[PointOut.of(p) for p in m.priorities(scope)],
        not_enough_answers=[PointOut.of(p) for p in m.points(scope) if p.priority is None],
    )


def service_detail(
    reads: SharedReads,
    session: Session,
    tenant: str,
    generation: int,
    period: Period,
    entry_id: str,
    crosshair: CrosshairMode | None,
) -> DetailOut:
    """A service's point and what its comments say; a catalogued service without answers in
    the period gets an empty point."""
    m, known = reads.matrix(session, tenant, generation, period, crosshair)
    p = m.find(Scope.SERVICE, entry_id)
    service = known.get(entry_id)
    if p is None:
        if service is None:
            raise UnknownService(entry_id)
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
        reads.recent(session, tenant, generation, period),
    )
    return DetailOut(
        tenant=tenant,
        period=PeriodOut(start=period.start, end=period.end),
        crosshairs=CrosshairsOut.of(m.crosshairs),
        point=PointOut.of(p),
        removed=bool(service and service.removed),
        explanation=ExplanationOut.of(explanation),
    )


def area_detail(
    reads: SharedReads,
    session: Session,
    tenant: str,
    generation: int,
    period: Period,
    policy_area: str,
    crosshair: CrosshairMode | None,
) -> DetailOut:
    """A policy area's point, its services, and what their comments say."""
    m, _known = reads.matrix(session, tenant, generation, period, crosshair)
    p = m.find(Scope.AREA, policy_area)
    if p is None:
        raise UnknownArea(policy_area)
    members = synthesis.area_entries(m, policy_area)
    explanation = synthesis.explain_entries(
        session,
        tenant,
        period,
        [x.key for x in members],
        recent=reads.recent(session, tenant, generation, period),
    )
    return DetailOut(
        tenant=tenant,
        period=PeriodOut(start=period.start, end=period.end),
        crosshairs=CrosshairsOut.of(m.crosshairs),
        point=PointOut.of(p),
        services=[PointOut.of(x) for x in members],
        explanation=ExplanationOut.of(explanation),
    )


def trends(
    db: Database, tenant: str, scope: Scope, key: str | None, weeks: int, min_answers: int
) -> TrendsOut:
    """The last ``weeks`` complete weeks; weeks without a snapshot are backfilled (written)."""
    wanted = weeks_back(last_complete_week(local_day(utcnow())), weeks)

    def build() -> TrendsOut:
        with db.transaction() as session:
            scope_to_tenant(session, tenant)
            found = snapshots.ensure(session, tenant, wanted, min_answers)
            return TrendsOut(
                tenant=tenant,
                weeks=wanted,
                definition="matrix over every answer submitted up to the end of the week",
                series=snapshots.series(found, scope, key),
            )

    try:
        return build()
    except IntegrityError:  # a concurrent request backfilled the same week first
        return build()


def matrix_csv(
    session: Session,
    tenant: str,
    period: Period,
    crosshair: CrosshairMode | None,
    territory: str | None,
    min_answers: int,
) -> str:
    s = synthesis.settings_for(session, tenant, min_answers, crosshair)
    m, _ = queries.matrix(session, tenant, period, s, territory=territory)
    return synthesis.matrix_csv(m)


def csv_name(tenant: str, start: date | None, end: date | None) -> str:
    return f"matrice-{tenant}-{start or 'debut'}-{end or 'aujourdhui'}.csv"


def report(session: Session, tenant: str, report_id: str) -> Report:
    row = session.get(Report, report_id)
    if row is None or row.tenant_id != tenant:
        raise UnknownReport(report_id)
    return row


def tenant_settings(session: Session, tenant: str, min_answers: int) -> TenantSettingsOut:
    """The tenant's matrix settings, or the defaults when it never changed them."""
    row = session.get(TenantSettings, tenant)
    if row is None:
        return TenantSettingsOut(
            crosshair_mode=CrosshairMode.GRAND_MEANS,
            min_answers=min_answers,
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
