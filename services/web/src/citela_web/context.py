"""What every page reaches through the request: the web service's context and the visitor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from citela_common.auth import TokenService
from citela_web.api_client import Api
from citela_web.quadrants import QuadrantBook
from citela_web.session import Visitor, load_visitor
from citela_web.settings import WebSettings


@dataclass
class WebContext:
    settings: WebSettings
    api: Api
    tokens: TokenService
    templates: Jinja2Templates
    static_versions: dict[str, str]
    quadrants: QuadrantBook


def web(request: Request) -> WebContext:
    """The web service's context (set on the app by `create_web_app`)."""
    ctx: WebContext = request.app.state.web
    return ctx


async def visitor(request: Request) -> Visitor:
    """FastAPI dependency: the visitor of the request (signed in or not)."""
    ctx = web(request)
    return await load_visitor(request, ctx.api, ctx.tokens)


Web = Annotated[WebContext, Depends(web)]
CurrentVisitor = Annotated[Visitor, Depends(visitor)]
