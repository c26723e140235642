"""The analytics jobs, whatever runs them: a Celery worker, the embedded process, the CLI.

Each one is idempotent: scoring skips what this model version already scored, a
recomputation rewrites the same sums, a snapshot replaces its week, a report built stays built.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from citela_analytics import cells, reports, scoring, snapshots
from citela_analytics.context import AnalyticsContext
from citela_analytics.domain.periods import last_complete_week, local_day
from citela_analytics.metrics import RECOMPUTE_DRIFT, RECOMPUTE_SECONDS
from citela_common.bus.base import PublishError
from citela_common.db import utcnow
from citela_common.logging import get_logger
from citela_common.runtime import ServiceRuntime
from citela_common.tenancy import scope_to_tenant

log = get_logger(__name__)

Runtime = ServiceRuntime[AnalyticsContext]


def publish_soon(runtime: Runtime) -> None:
    """Publish what a job staged in the outbox now, rather than at the relay's next poll."""
    try:
        runtime.relay.relay_once()
    except PublishError as exc:  # the service's relay will publish it when the bus is back
        log.warning("analytics.publish_deferred", error=str(exc))
    runtime.relay.wake()


def _tenants(runtime: Runtime, tenant: str | None) -> list[str]:
    if tenant is not None:
        return [tenant]
    with runtime.db.transaction() as session:
        return cells.tenants(session)


def score(runtime: Runtime, tenant: str | None = None) -> dict[str, Any]:
    """Score every pending comment (of one tenant, or of all) with the configured backend."""
    ctx = runtime.context
    result = scoring.score_pending(
        runtime.db,
        ctx.backend.get(),
        tenant=tenant,
        batch_size=ctx.settings.analytics_scoring_batch_size,
        on_batch=lambda _r: publish_soon(runtime),
    )
    for t in result.tenants:
        ctx.cache.bump(t)
    return result.as_dict()


def recompute(runtime: Runtime, tenant: str | None = None) -> list[dict[str, Any]]:
    """Rebuild the matrix sums exactly from the facts; report the drift (0 expected)."""
    out = []
    for t in _tenants(runtime, tenant):
        started = time.perf_counter()
        with runtime.db.transaction() as session:
            scope_to_tenant(session, t)
            done = cells.recompute(session, t)
        duration = time.perf_counter() - started
        RECOMPUTE_SECONDS.observe(duration)
        if done.drifted:
            RECOMPUTE_DRIFT.inc(done.drifted)
            log.warning("analytics.matrix_drift", tenant=t, cells=done.drifted)
            runtime.context.cache.bump(t)
        out.append(
            {
                "tenant": t,
                "answers": done.answers,
                "cells": done.cells,
                "drifted_cells": done.drifted,
                "duration_s": round(duration, 6),
            }
        )
    return out


def snapshot(
    runtime: Runtime, tenant: str | None = None, week: str | None = None
) -> list[dict[str, Any]]:
    """Take the snapshot of ``week`` (ISO date of any day of it; default: last full week)."""
    day = date.fromisoformat(week) if week else last_complete_week(local_day(utcnow()))
    out = []
    for t in _tenants(runtime, tenant):
        with runtime.db.transaction() as session:
            scope_to_tenant(session, t)
            row = snapshots.take(session, t, day, runtime.context.min_answers, backfilled=False)
            out.append({"tenant": t, "week_start": row.week_start.isoformat()})
    return out


def build_report(runtime: Runtime, tenant: str, report_id: str) -> dict[str, Any]:
    status = reports.build(runtime.db, tenant, report_id, runtime.context.min_answers)
    return {"tenant": tenant, "report": report_id, "status": status.value}
