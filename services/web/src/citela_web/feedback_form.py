"""The feedback form of a service: give or change one's feedback, and the form again after
signing in when the session ended while typing."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from citela_web.api_client import Api, ApiError
from citela_web.context import CurrentVisitor, visitor, web
from citela_web.messages import field_messages, problem_message
from citela_web.pages import check_csrf, flash, redirect, render
from citela_web.portal_common import entry_path, get_entry, link, public_tenant, tenant_nav
from citela_web.session import Visitor
from citela_web.sign_in import login_page

router = APIRouter(tags=["portal"])

DRAFT_FIELDS = ("satisfaction", "importance", "comment", "idempotency_key")


def sign_in_first(request: Request) -> Response:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(link("/compte/connexion", suivant=here))


async def my_feedback_on(
    api: Api, current: Visitor, tenant: str, entry_id: str
) -> dict[str, Any] | None:
    """The person's current feedback on this entry (one per service), if any."""
    mine = await api.get("feedback", "/v1/me/feedback", token=current.token)
    for fb in mine:
        if fb["tenant"] == tenant and fb["entry_id"] == entry_id:
            found: dict[str, Any] = fb
            return found
    return None


COMMENT_MESSAGES: dict[str, str] = {
    "required": "Cette collectivité demande un commentaire : expliquez vos notes en quelques mots.",
    "too_long": "Votre commentaire dépasse la longueur autorisée ({max} caractères au plus).",
    "string_too_long": "Votre commentaire dépasse la longueur autorisée ({max} caractères au "
    "plus).",
}


def feedback_errors(exc: ApiError, rules: Mapping[str, Any]) -> dict[str, str]:
    """Per field French messages, with the tenant's own comment rules spelt out."""
    errors = field_messages(exc)
    for problem in exc.errors:
        name = problem.field.rsplit(".", 1)[-1]
        if name == "comment" and problem.code in COMMENT_MESSAGES:
            errors["comment"] = COMMENT_MESSAGES[problem.code].format(
                max=rules.get("comment_max_length", "")
            )
        if name == "entry_id":
            errors.pop("entry_id", None)
    return errors


def form_message(exc: ApiError) -> str:
    if exc.slug == "feedback-rejected":
        return "Votre avis n'a pas été enregistré : certains champs sont à corriger."
    if exc.status == 422 and exc.errors:
        return "Votre avis n'a pas été enregistré : certains champs sont à corriger."
    if exc.status == 409:
        return "Votre avis n'a pas été enregistré : un envoi identique est en cours. Réessayez."
    return "Votre avis n'a pas été enregistré. " + problem_message(exc)


def _score(value: Any) -> int | None:
    try:
        score = int(str(value))
    except ValueError:
        return None
    return score if 1 <= score <= 5 else None


async def _feedback_page(
    request: Request,
    tenant: dict[str, Any],
    entry: dict[str, Any],
    values: Mapping[str, Any],
    *,
    existing: dict[str, Any] | None,
    errors: Mapping[str, str] | None = None,
    message: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    api = web(request).api
    scales = await api.get("feedback", "/v1/scales")
    return render(
        request,
        "portal/feedback_form.html",
        {
            "tenant": tenant,
            "entry": entry,
            "values": values,
            "existing": existing,
            "errors": dict(errors or {}),
            "message": message,
            "notice": notice,
            "scales": [
                ("satisfaction", "Votre satisfaction", scales["satisfaction"]),
                ("importance", "L'importance de ce service pour vous", scales["importance"]),
            ],
            "entry_link": f"/c/{tenant['code']}/services/{entry_path(entry['entry_id'])}",
            "nav": tenant_nav(tenant["code"], "services", None),
        },
        status_code=status_code,
    )


async def resume_draft(
    request: Request, tenant: str, service: str, draft: Mapping[str, str]
) -> Response:
    """The feedback form again, filled with what was typed before the session ended."""
    current = await visitor(request)
    api = web(request).api
    info = await public_tenant(api, tenant)
    entry = await get_entry(api, tenant, service)
    existing = await my_feedback_on(api, current, tenant, entry["entry_id"])
    values = {name: draft.get(name, "") for name in DRAFT_FIELDS}
    values["idempotency_key"] = values["idempotency_key"] or secrets.token_urlsafe(18)
    return await _feedback_page(
        request,
        info,
        entry,
        values,
        existing=existing,
        notice="Vous êtes connecté. Votre avis n'est pas encore envoyé : vérifiez-le, puis "
        "envoyez-le.",
    )


@router.get("/c/{tenant}/donner-un-avis", response_class=HTMLResponse)
async def feedback_form(
    request: Request, tenant: str, current: CurrentVisitor, service: str = ""
) -> Response:
    if not current.signed_in:
        return sign_in_first(request)
    api = web(request).api
    info = await public_tenant(api, tenant)
    if not service:
        raise ApiError(404, "Service manquant", slug="unknown-entry")
    entry = await get_entry(api, tenant, service)
    existing = await my_feedback_on(api, current, tenant, entry["entry_id"])
    values = {
        "satisfaction": str(existing["satisfaction"]) if existing else "",
        "importance": str(existing["importance"]) if existing else "",
        "comment": (existing or {}).get("comment") or "",
        "idempotency_key": secrets.token_urlsafe(18),
    }
    return await _feedback_page(request, info, entry, values, existing=existing)


@router.post("/c/{tenant}/donner-un-avis", response_class=HTMLResponse)
async def feedback_submit(
    request: Request, tenant: str, current: CurrentVisitor, service: str = ""
) -> Response:
    form = await request.form()
    if not current.signed_in:
        # The session ended while the person was typing (both tokens expired or revoked): the
        # sign-in form carries what they typed, and signing in brings the form back with it.
        check_csrf(request, current, form)
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        draft = {name: str(form.get(name) or "") for name in DRAFT_FIELDS}
        return login_page(request, suivant=here, draft=draft, status_code=401)
    check_csrf(request, current, form)
    api = web(request).api
    info = await public_tenant(api, tenant)
    entry_id = service or str(form.get("service") or "")
    if not entry_id:
        raise ApiError(404, "Service manquant", slug="unknown-entry")
    entry = await get_entry(api, tenant, entry_id)
    values = {
        "satisfaction": str(form.get("satisfaction") or ""),
        "importance": str(form.get("importance") or ""),
        "comment": str(form.get("comment") or ""),
        # A double click posts the same key twice: the API answers the first result again.
        "idempotency_key": str(form.get("idempotency_key") or "") or secrets.token_urlsafe(18),
    }
    existing = await my_feedback_on(api, current, tenant, entry["entry_id"])
    errors: dict[str, str] = {}
    satisfaction, importance = _score(values["satisfaction"]), _score(values["importance"])
    if satisfaction is None:
        errors["satisfaction"] = "Choisissez une note de satisfaction de 1 à 5."
    if importance is None:
        errors["importance"] = "Choisissez une note d'importance de 1 à 5."
    if errors:
        return await _feedback_page(
            request,
            info,
            entry,
            values,
            existing=existing,
            errors=errors,
            message="Votre avis n'a pas été enregistré : certains champs sont à corriger.",
            status_code=422,
        )
    try:
        result = await api.post(
            "feedback",
            f"/v1/tenants/{quote(tenant)}/feedback",
            token=current.token,
            json={
                "entry_id": entry["entry_id"],
                "satisfaction": satisfaction,
                "importance": importance,
                "comment": values["comment"].strip() or None,
            },
            headers={"Idempotency-Key": values["idempotency_key"]},
        )
    except ApiError as exc:
        if exc.status == 401:
            raise
        if exc.status == 422 and any(p.field.endswith("Idempotency-Key") for p in exc.errors):
            # The key served another content (changed after a success): the next try is new.
            values["idempotency_key"] = secrets.token_urlsafe(18)
        return await _feedback_page(
            request,
            info,
            entry,
            values,
            existing=existing,
            errors=feedback_errors(exc, info),
            message=form_message(exc),
            status_code=exc.status if 400 <= exc.status < 600 else 400,
        )
    title = entry["title"]
    outcome = (result or {}).get("outcome")
    if outcome == "revised":
        text = f"Votre avis sur « {title} » a remplacé le précédent. Merci !"
    elif outcome == "unchanged":
        text = f"Votre avis sur « {title} » était déjà enregistré tel quel."
    else:
        text = f"Merci ! Votre avis sur « {title} » est enregistré."
    if (result or {}).get("comment_status") == "pending":
        text += " Votre commentaire sera publié après relecture par la collectivité."
    flash(request, text)
    return redirect("/compte/")
