"""The sign-in form, shared by the account pages and the feedback form (which shows it, with
the typed feedback kept, when the session ended while the person was typing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from citela_web.pages import render


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never another site)."""
    target = (target or "").strip()
    if (
        not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(c in target for c in "\r\n\\")
    ):
        return "/compte/"
    return target


DRAFT_PREFIX = "brouillon_"


def login_page(
    request: Request,
    *,
    suivant: str = "",
    draft: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The sign-in form; `draft` is a feedback typed before the session ended, kept in hidden
    fields so that signing in brings it back."""
    return render(
        request,
        "account/login.html",
        {
            "values": dict(values or {}),
            "errors": dict(errors or {}),
            "message": message,
            "suivant": safe_next(suivant) if suivant else "",
            "draft": {f"{DRAFT_PREFIX}{k}": v for k, v in (draft or {}).items()},
        },
        status_code=status_code,
    )


def draft_of(form: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(k).removeprefix(DRAFT_PREFIX): str(v)
        for k, v in form.items()
        if str(k).startswith(DRAFT_PREFIX)
    }
