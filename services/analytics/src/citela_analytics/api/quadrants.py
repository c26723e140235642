"""The quadrants of the matrix: the rule that places a point, and their French names.

Public (no tenant, no token): the same for every authority. The web names the chart's regions
and the report's legend from here, so the rule and its words live only in analytics
(``domain.matrix``).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from citela_analytics.schemas import QuadrantsOut

router = APIRouter(tags=["synthesis"])

_BODY = QuadrantsOut.of_domain()


@router.get(
    "/v1/quadrants",
    response_model=QuadrantsOut,
    summary="The matrix's quadrants: their rule and French names (public)",
    description="The four quadrants in priority order, each with its `code` (as every "
    "point's `quadrant`), its French `label` (as every point's `quadrant_label`), the "
    "`action` it asks for and a short `description` of where it lies; `rule` states in "
    "French how a point is placed. They change with a deployment, not with the data.",
)
def get_quadrants(response: Response) -> QuadrantsOut:
    response.headers["Cache-Control"] = "public, max-age=3600"
    return _BODY
