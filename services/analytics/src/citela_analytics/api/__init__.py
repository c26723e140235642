"""HTTP API of the analytics service: the synthesis an authority's staff acts on.

Every tenant route is under ``/v1/tenants/{tenant}`` and needs a staff access token with
``analytics:read`` on that tenant (roles admin or analyst); changing the settings, asking for
a recomputation or a snapshot needs ``tenant:admin``. Partner apps have no access. The
quadrants' rule and names (``/v1/quadrants``) are public.

One module per area (matrix, details, reports, admin, quadrants), each a module-level router;
what they share is in ``deps``.
"""

from __future__ import annotations

from fastapi import FastAPI

from citela_analytics.api import admin, details, matrix, quadrants, reports
from citela_analytics.api.deps import AnalyticsRuntime
from citela_common.web import create_service_app

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
over-investment (low importance, high satisfaction), where high means ≥ the crosshair; their
French names and the rule in words: `GET /v1/quadrants` (public).
A cell with fewer answers than the tenant's minimum (default 10) is **not enough answers**
(no quadrant); one whose importance or satisfaction interval contains its crosshair is
**uncertain**. **Priorities**: 1, 2, 3… by quadrant in that order, then by gap, largest first.

**Freshness.** The matrix is maintained incrementally from the feedback events (running sums
per service and day), within seconds of each event; an exact recomputation from the facts
gives the same sums (`POST …/recompute` reports any drift).
"""


def create_app(runtime: AnalyticsRuntime) -> FastAPI:
    app = create_service_app(
        "analytics", title=TITLE, description=DESCRIPTION, checks=runtime.readiness_checks()
    )
    for module in (matrix, details, reports, admin, quadrants):
        app.include_router(module.router)
    return app
