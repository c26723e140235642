"""The person's account on the portal: /compte/* (register, confirm, sign in and out, my
feedback, export, deletion), all through the feedback API with the person's own token."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from citela_common.auth import TokenType, user_from_claims
from citela_common.events.envelope import TENANT_PATTERN
from citela_web.api_client import ApiError
from citela_web.context import CurrentVisitor, web
from citela_web.feedback_form import resume_draft
from citela_web.messages import field_messages, problem_message
from citela_web.pages import check_csrf, flash, redirect, render
from citela_web.session import REFRESH_COOKIE, Visitor, forget_tokens, remember_tokens
from citela_web.sign_in import draft_of, login_page, safe_next

router = APIRouter(prefix="/compte", tags=["account"])
# A feedback form's path: signing in there may bring back a draft typed before.
FEEDBACK_FORM = re.compile(rf"^/c/({TENANT_PATTERN.pattern[1:-1]})/donner-un-avis$")

MODERATION_LABELS: dict[str, str] = {
    "none": "Sans commentaire",
    "visible": "Commentaire publié",
    "pending": "Commentaire en attente de relecture",
    "hidden": "Commentaire masqué par la modération",
}


def _sign_in_first(path: str) -> Response:
    return redirect("/compte/connexion?" + urlencode({"suivant": path}))


# --- register and confirm ------------------------------------------------------------------


@router.get("/inscription", response_class=HTMLResponse)
async def register_form(request: Request, current: CurrentVisitor) -> HTMLResponse:
    return render(request, "account/register.html", {"values": {}, "errors": {}})


@router.post("/inscription", response_class=HTMLResponse)
async def register(request: Request, current: CurrentVisitor) -> Response:
    form = await request.form()
    check_csrf(request, current, form)
    values = {
        "email": str(form.get("email") or "").strip(),
        "display_name": str(form.get("display_name") or "").strip(),
    }
    password = str(form.get("password") or "")
    try:
        await web(request).api.post(
            "feedback",
            "/v1/accounts",
            json={
                "email": values["email"],
                "password": password,
                "display_name": values["display_name"] or None,
            },
        )
    except ApiError as exc:
        if exc.status == 401:
            raise
        errors = field_messages(exc)
        if exc.slug == "email-taken":
            errors["email"] = "Un compte existe déjà avec cette adresse : connectez-vous."
        return render(
            request,
            "account/register.html",
            {"values": values, "errors": errors, "message": problem_message(exc)},
            status_code=exc.status,
        )
    return render(request, "account/registered.html", {"email": values["email"]})


@router.get("/confirmation", response_class=HTMLResponse)
async def confirm(request: Request, current: CurrentVisitor, token: str = "") -> HTMLResponse:
    if not token:
        return render(
            request,
            "account/confirm.html",
            {"confirmed": None, "message": "Ce lien de confirmation est incomplet."},
            status_code=400,
        )
    try:
        done = await web(request).api.post("feedback", "/v1/auth/confirm", json={"token": token})
    except ApiError as exc:
        if exc.status >= 500:
            raise
        return render(
            request,
            "account/confirm.html",
            {
                "confirmed": None,
                "message": "Ce lien de confirmation n'est pas valide ou a expiré "
                "(il est valable 48 heures).",
            },
            status_code=400,
        )
    return render(request, "account/confirm.html", {"confirmed": done["email"]})


@router.post("/confirmation", response_class=HTMLResponse)
async def resend(request: Request, current: CurrentVisitor) -> Response:
    form = await request.form()
    check_csrf(request, current, form)
    email = str(form.get("email") or "").strip()
    try:
        await web(request).api.post("feedback", "/v1/auth/confirm/resend", json={"email": email})
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 429:
            raise
        return render(
            request,
            "account/confirm.html",
            {
                "confirmed": None,
                "message": "Indiquez l'adresse électronique de votre compte.",
                "errors": {"email": "Indiquez une adresse électronique valide."},
                "email": email,
            },
            status_code=422,
        )
    # The API answers alike whether the address exists: so does the page.
    flash(
        request,
        f"Si un compte non confirmé utilise l'adresse {email}, un nouveau lien de "
        "confirmation vient de lui être envoyé.",
    )
    return redirect("/compte/connexion")


# --- sign in and out -------------------------------------------------------------------------


@router.get("/connexion", response_class=HTMLResponse)
async def login_form(request: Request, current: CurrentVisitor, suivant: str = "") -> HTMLResponse:
    return login_page(request, suivant=suivant)


@router.post("/connexion", response_class=HTMLResponse)
async def login(request: Request, current: CurrentVisitor, suivant: str = "") -> Response:
    form = await request.form()
    check_csrf(request, current, form)
    ctx = web(request)
    email = str(form.get("email") or "").strip()
    target = safe_next(str(form.get("suivant") or suivant or ""))
    try:
        pair = await ctx.api.post(
            "feedback",
            "/v1/auth/token",
            json={"email": email, "password": str(form.get("password") or "")},
        )
    except ApiError as exc:
        if exc.status >= 500:
            raise
        errors = field_messages(exc)
        if exc.status == 422:
            errors = {
                k: "Ce champ est obligatoire." if not form.get(k) else v for k, v in errors.items()
            }
        return login_page(
            request,
            suivant=target,
            draft=draft_of(form),
            values={"email": email},
            errors=errors,
            message=problem_message(exc),
            status_code=exc.status,
        )
    remember_tokens(request, pair, int(ctx.tokens.refresh_ttl.total_seconds()))
    draft = draft_of(form)
    resumed = FEEDBACK_FORM.match(urlsplit(target).path) if draft else None
    if resumed:
        service = parse_qs(urlsplit(target).query).get("service", [""])[0]
        if service:
            # The new tokens reach the cookies with this response: this page already uses them.
            claims = ctx.tokens.decode(pair["access_token"], TokenType.ACCESS)
            request.state.visitor = Visitor(
                pair["access_token"], user_from_claims(claims), current.csrf, claims
            )
            return await resume_draft(request, resumed.group(1), service, draft)
    flash(request, "Vous êtes connecté.")
    return redirect(target)


@router.post("/deconnexion")
async def logout(request: Request, current: CurrentVisitor) -> Response:
    form = await request.form()
    check_csrf(request, current, form)
    refresh = request.cookies.get(REFRESH_COOKIE)
    if refresh:
        try:
            await web(request).api.post(
                "feedback", "/v1/auth/logout", json={"refresh_token": refresh}
            )
        except ApiError as exc:
            # Signing out here must work even when the API does not answer: the cookies go.
            if exc.status < 500:
                raise
    forget_tokens(request)
    flash(request, "Vous êtes déconnecté.")
    return redirect("/")


# --- my account ----------------------------------------------------------------------------


async def _names(request: Request, feedbacks: list[dict[str, Any]]) -> dict[str, Any]:
    """Tenant names and service titles of the person's feedback (from the public APIs)."""
    api = web(request).api
    tenants = {t["code"]: t["name"] for t in await api.get("feedback", "/v1/tenants/public")}
    titles: dict[tuple[str, str], str | None] = {}
    for fb in feedbacks:
        key = (fb["tenant"], fb["entry_id"])
        if key in titles:
            continue
        try:
            entry = await api.get(
                "catalogue",
                f"/v1/tenants/{quote(fb['tenant'])}/entries/{quote(fb['entry_id'], safe=':')}",
            )
            titles[key] = entry["title"]
        except ApiError as exc:
            if exc.status != 404:
                raise
            titles[key] = None  # the service left the catalogue; the feedback stays the person's
    return {"tenants": tenants, "titles": titles}


@router.get("/", response_class=HTMLResponse)
async def my_account(request: Request, current: CurrentVisitor) -> Response:
    if not current.signed_in:
        return _sign_in_first("/compte/")
    api = web(request).api
    me = await api.get("feedback", "/v1/me", token=current.token)
    feedbacks = await api.get("feedback", "/v1/me/feedback", token=current.token)
    names = await _names(request, feedbacks)
    items = [
        {
            **fb,
            "tenant_name": names["tenants"].get(fb["tenant"], fb["tenant"]),
            "title": names["titles"].get((fb["tenant"], fb["entry_id"])),
            "status_label": MODERATION_LABELS.get(fb["comment_status"], fb["comment_status"]),
            "change": f"/c/{fb['tenant']}/donner-un-avis?" + urlencode({"service": fb["entry_id"]}),
            "entry_link": f"/c/{fb['tenant']}/services/{quote(fb['entry_id'], safe=':')}",
        }
        for fb in feedbacks
    ]
    return render(request, "account/account.html", {"me": me, "feedbacks": items})


@router.post("/retirer")
async def retract(request: Request, current: CurrentVisitor) -> Response:
    if not current.signed_in:
        return _sign_in_first("/compte/")
    form = await request.form()
    check_csrf(request, current, form)
    tenant = str(form.get("tenant") or "")
    feedback_id = str(form.get("feedback_id") or "")
    if not tenant or not feedback_id:
        raise ApiError(404, "Avis introuvable", slug="unknown-feedback")
    await web(request).api.delete(
        "feedback",
        f"/v1/tenants/{quote(tenant)}/feedback/{quote(feedback_id)}",
        token=current.token,
    )
    flash(request, "Votre avis a été retiré : il ne compte plus.")
    return redirect("/compte/")


@router.get("/export")
async def export(request: Request, current: CurrentVisitor) -> Response:
    if not current.signed_in:
        return _sign_in_first("/compte/export")
    raw = await web(request).api.request("GET", "feedback", "/v1/me/export", token=current.token)
    return Response(
        raw.content,
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="citela-mes-donnees.json"'},
    )


@router.get("/supprimer", response_class=HTMLResponse)
async def delete_form(request: Request, current: CurrentVisitor) -> Response:
    if not current.signed_in:
        return _sign_in_first("/compte/supprimer")
    me = await web(request).api.get("feedback", "/v1/me", token=current.token)
    return render(request, "account/delete.html", {"me": me})


@router.post("/supprimer")
async def delete(request: Request, current: CurrentVisitor) -> Response:
    if not current.signed_in:
        return _sign_in_first("/compte/supprimer")
    form = await request.form()
    check_csrf(request, current, form)
    await web(request).api.delete("feedback", "/v1/me", token=current.token)
    forget_tokens(request)
    flash(
        request,
        "Votre compte est supprimé, ainsi que vos commentaires et votre adresse électronique. "
        "Seules vos notes restent comptées dans les statistiques des collectivités, "
        "anonymement : plus rien ne les relie à vous.",
    )
    return redirect("/")
