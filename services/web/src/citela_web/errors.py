"""The French error pages: an API's problem, an unknown page, a malformed address."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from citela_common.logging import get_logger
from citela_web.api_client import ApiError
from citela_web.context import visitor
from citela_web.messages import problem_message
from citela_web.pages import redirect, render

log = get_logger(__name__)


class Refused(Exception):
    """The visitor may not see this page (their roles, or an API's 403): the French 403 page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


HTTP_MESSAGES = {404: "Cette page n'existe pas.", 405: "Cette action n'est pas possible ici."}


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    current = await visitor(request)
    if exc.status == 401:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/compte/connexion?suivant={quote(back, safe='')}")
    log.info("web.api_error", status=exc.status, slug=exc.slug, path=request.url.path)
    return render(
        request,
        "error.html",
        {"status": exc.status, "message": problem_message(exc), "visitor": current},
        status_code=exc.status if exc.status >= 400 else 500,
    )


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    await visitor(request)
    return render(
        request,
        "error.html",
        {
            "status": exc.status_code,
            "message": HTTP_MESSAGES.get(exc.status_code, str(exc.detail)),
        },
        status_code=exc.status_code,
    )


async def on_invalid(request: Request, exc: Exception) -> Response:
    await visitor(request)
    return render(
        request,
        "error.html",
        {"status": 400, "message": "L'adresse de la page contient une valeur incorrecte."},
        status_code=400,
    )


async def on_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    await visitor(request)
    return render(request, "error.html", {"status": 403, "message": exc.message}, status_code=403)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(Refused, on_refused)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
