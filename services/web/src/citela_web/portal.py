"""The citizen portal: territory, catalogue, service pages, account and feedback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from citela_web.app import render, visitor
from citela_web.session import Visitor

router = APIRouter(tags=["portal"])
CurrentVisitor = Annotated[Visitor, Depends(visitor)]


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, current: CurrentVisitor) -> HTMLResponse:
    return render(request, "portal/home.html")
