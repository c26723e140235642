"""The authority's dashboard (staff of the tenant only): matrix, priorities, trends, moderation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from citela_web.app import render, visitor
from citela_web.session import Visitor

router = APIRouter(prefix="/tableau-de-bord", tags=["dashboard"])
CurrentVisitor = Annotated[Visitor, Depends(visitor)]


@router.get("/{tenant}/", response_class=HTMLResponse)
async def matrix(request: Request, tenant: str, current: CurrentVisitor) -> HTMLResponse:
    return render(request, "dashboard/matrix.html", {"tenant": tenant})
