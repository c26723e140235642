"""Putting the read side and the domain together: a matrix, an explanation, a CSV.

Shared by the API, the report task and the snapshots; each function works in the caller's
session (scoped to the tenant).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from sqlalchemy.orm import Session

from citela_analytics import queries
from citela_analytics.domain.explain import Explanation, explain
from citela_analytics.domain.matrix import CrosshairMode, Matrix, MatrixSettings, Point
from citela_analytics.queries import Period, RecentComments, Service


def settings_for(
    session: Session, tenant: str, default_min_answers: int, mode: CrosshairMode | None = None
) -> MatrixSettings:
    s = queries.matrix_settings(session, tenant, default_min_answers)
    if mode is not None and mode is not s.crosshair_mode:
        s = MatrixSettings(mode, s.min_answers, s.confidence)
    return s


def explain_entries(
    session: Session,
    tenant: str,
    period: Period,
    entry_ids: Iterable[str],
    exclude_words: Iterable[str] = (),
    recent: RecentComments | None = None,
) -> Explanation:
    """``recent``: the period's most recent comments, read once for several explanations."""
    ids = list(entry_ids)
    comments = queries.comments(session, tenant, period, ids)
    others = recent.others(ids) if recent is not None else None
    if others is None:
        others = queries.other_comments(session, tenant, period, ids)
    return explain(comments, others, exclude=exclude_words)


def explain_service(
    session: Session,
    tenant: str,
    period: Period,
    entry_id: str,
    service: Service | None,
    recent: RecentComments | None = None,
) -> Explanation:
    # The service's own name is no theme ("mairie" in every comment on the mairie).
    words = [service.title] if service else []
    return explain_entries(session, tenant, period, [entry_id], words, recent)


def area_entries(matrix: Matrix, area: str) -> list[Point]:
    return [p for p in matrix.services if p.policy_area == area]


CSV_COLUMNS = (
    "scope",
    "key",
    "label",
    "policy_area",
    "n",
    "importance_mean",
    "importance_sd",
    "importance_ci_low",
    "importance_ci_high",
    "satisfaction_mean",
    "satisfaction_sd",
    "satisfaction_ci_low",
    "satisfaction_ci_high",
    "gap_mean",
    "gap_sd",
    "gap_ci_low",
    "gap_ci_high",
    "quadrant",
    "status",
    "priority",
    "crosshair_mode",
    "crosshair_importance",
    "crosshair_satisfaction",
)


def _cell(value: float | int | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def matrix_csv(matrix: Matrix) -> str:
    """Every point of the matrix, services then areas, one row each (RFC 4180, UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    c = matrix.crosshairs
    for p in [*matrix.services, *matrix.areas]:
        row: list[float | int | str | None] = [
            p.scope.value,
            p.key,
            p.label,
            p.policy_area,
            p.n,
        ]
        for e in (p.importance, p.satisfaction, p.gap):
            row += [e.mean, e.sd, e.ci_low, e.ci_high]
        row += [
            p.quadrant.value if p.quadrant else None,
            p.status.value,
            p.priority,
            c.mode.value,
            c.importance,
            c.satisfaction,
        ]
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()
