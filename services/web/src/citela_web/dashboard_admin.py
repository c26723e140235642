"""Dashboard pages that act: the moderation queue, partner apps and their keys, exports and the
synthesis report."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from citela_web import synthesis
from citela_web.api_client import ApiError
from citela_web.context import Web, web
from citela_web.dashboard_common import (
    PREFIX,
    AnalyticsStaff,
    Filters,
    Moderator,
    Staff,
    TenantAdmin,
)
from citela_web.messages import problem_message
from citela_web.pages import check_csrf, flash, redirect, render

router = APIRouter(prefix=PREFIX, tags=["dashboard"])

# --- moderation ------------------------------------------------------------------------------

QUEUE_STATUSES = {"pending": "En attente de modération", "hidden": "Masqués"}
ACTIONS = {"approve": "Approuver", "hide": "Masquer", "retract": "Retirer l'avis"}
DONE_WORDS = {"approve": "approuvé", "hide": "masqué", "retract": "retiré"}
RESULT_WORDS = {
    "unchanged": "déjà dans cet état",
    "not_applicable": "sans commentaire, rien à faire",
    "not_found": "introuvable (déjà retiré ?)",
}
FLAG_WORDS = {"insult": "propos injurieux", "spam": "publicité ou spam"}
DETAILED_RESULTS = 20  # per-item lines in the message; the rest are counted


def short_id(feedback_id: str) -> str:
    return feedback_id[:8]


async def _entry_labels(staff: Staff, entry_ids: set[str]) -> dict[str, str]:
    """Titles of the queue's services, from the public catalogue (their id if unknown)."""

    async def one(entry_id: str) -> tuple[str, str]:
        try:
            entry = await web(staff.request).api.get(
                "catalogue",
                f"/v1/tenants/{staff.tenant}/entries/{quote(entry_id, safe=':')}",
            )
        except ApiError:
            return entry_id, entry_id
        return entry_id, str(entry.get("title") or entry_id)

    return dict(await asyncio.gather(*(one(e) for e in sorted(entry_ids))))


@router.get("/{tenant}/moderation", response_class=HTMLResponse, response_model=None)
async def moderation(request: Request, tenant: str, staff: Moderator) -> Response:
    status = request.query_params.get("statut", "pending")
    status = status if status in QUEUE_STATUSES else "pending"
    cursor = request.query_params.get("curseur", "")[:500] or None
    page = await staff.get(
        "feedback",
        f"/v1/tenants/{tenant}/moderation/queue",
        {"status": status, "cursor": cursor, "limit": 50},
    )
    labels = await _entry_labels(staff, {str(i["entry_id"]) for i in page["items"]})
    items = [
        {
            **item,
            "short_id": short_id(item["id"]),
            "service": labels.get(item["entry_id"], item["entry_id"]),
            "flags": [
                f"{FLAG_WORDS.get(f.get('reason', ''), f.get('reason', ''))} « {f.get('detail')} »"
                for f in item.get("moderation_flags") or []
            ],
        }
        for item in page["items"]
    ]
    next_href = (
        f"{staff.base}/moderation?" + urlencode({"statut": status, "curseur": page["next_cursor"]})
        if page.get("next_cursor")
        else None
    )
    return render(
        request,
        "dashboard/moderation.html",
        staff.page(
            "moderation",
            items=items,
            status=status,
            statuses=QUEUE_STATUSES,
            actions=ACTIONS,
            next_href=next_href,
        ),
    )


def decision_message(action: str, results: list[Mapping[str, Any]]) -> tuple[str, str]:
    """The French summary of a bulk decision, item by item; and the notice's kind."""
    done = sum(1 for r in results if r.get("result") == "done")
    lines = []
    for r in results[:DETAILED_RESULTS]:
        word = (
            DONE_WORDS[action]
            if r.get("result") == "done"
            else RESULT_WORDS.get(str(r.get("result")), str(r.get("result")))
        )
        lines.append(f"avis {short_id(str(r.get('feedback_id')))} : {word}")
    if len(results) > DETAILED_RESULTS:
        lines.append(f"et {len(results) - DETAILED_RESULTS} autres")
    plural = "s" if done > 1 else ""
    head = f"{done} avis {DONE_WORDS[action]}{plural} sur {len(results)}"
    kind = "success" if done == len(results) else ("warning" if done else "error")
    return f"{head} — " + " ; ".join(lines) + ".", kind


@router.post("/{tenant}/moderation", response_class=HTMLResponse, response_model=None)
async def moderate(request: Request, tenant: str, staff: Moderator) -> Response:
    form = await request.form()
    check_csrf(request, staff.visitor, form)
    status = str(form.get("statut") or "pending")
    back = f"{staff.base}/moderation" + ("?statut=hidden" if status == "hidden" else "")
    action = str(form.get("action") or "")
    ids = [str(v) for v in form.getlist("ids") if str(v)]
    if action not in ACTIONS:
        flash(request, "Choisissez une action : approuver, masquer ou retirer.", "error")
        return redirect(back)
    if not ids:
        flash(request, "Sélectionnez au moins un avis avant de choisir une action.", "error")
        return redirect(back)
    note = str(form.get("note") or "").strip()[:1000] or None
    result = await staff.call(
        "POST",
        "feedback",
        f"/v1/tenants/{tenant}/moderation/decisions",
        json={"action": action, "feedback_ids": ids[:500], "note": note},
    )
    message, kind = decision_message(action, result["results"])
    flash(request, message, kind)
    return redirect(back)


# --- partner apps ----------------------------------------------------------------------------

SCOPES = {"feedback:write": "Déposer des avis", "feedback:read": "Lire les avis"}
APP_FIELD_MESSAGES = {
    "name": "Indiquez le nom de l'application (2 à 200 caractères).",
    "contact_email": "Indiquez une adresse électronique valide (ex. : prenom.nom@exemple.fr).",
    "rate_limit_per_minute": "Indiquez un nombre entier de 1 à 100 000, ou laissez vide.",
    "label": "Le libellé compte au plus 200 caractères.",
    "scopes": "Choisissez au moins une permission.",
}


async def _partners_page(
    request: Request,
    staff: Staff,
    *,
    app_form: Mapping[str, str] | None = None,
    app_errors: Mapping[str, str] | None = None,
    key_form: Mapping[str, Any] | None = None,
    key_errors: Mapping[str, str] | None = None,
    key_app: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    apps = await staff.get("feedback", f"/v1/tenants/{staff.tenant}/partner-apps")
    keys = await asyncio.gather(
        *(
            staff.get("feedback", f"/v1/tenants/{staff.tenant}/partner-apps/{a['id']}/keys")
            for a in apps
        )
    )
    return render(
        request,
        "dashboard/partners.html",
        staff.page(
            "partenaires",
            apps=[{**a, "keys": k} for a, k in zip(apps, keys, strict=True)],
            scopes=SCOPES,
            app_form=app_form or {},
            app_errors=app_errors or {},
            key_form=key_form or {},
            key_errors=key_errors or {},
            key_app=key_app,
            problem=problem,
        ),
        status_code=status_code,
    )


@router.get("/{tenant}/partenaires", response_class=HTMLResponse, response_model=None)
async def partners(request: Request, tenant: str, staff: TenantAdmin) -> Response:
    return await _partners_page(request, staff)


def _field_errors(exc: ApiError) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in exc.field_names():
        out[name] = APP_FIELD_MESSAGES.get(name, "Valeur refusée.")
    return out


@router.post("/{tenant}/partenaires/applications", response_class=HTMLResponse, response_model=None)
async def create_app(request: Request, tenant: str, staff: TenantAdmin) -> Response:
    form = await request.form()
    check_csrf(request, staff.visitor, form)
    typed = {
        k: str(form.get(k) or "").strip()
        for k in ("name", "contact_email", "rate_limit_per_minute")
    }
    errors: dict[str, str] = {}
    if len(typed["name"]) < 2:
        errors["name"] = APP_FIELD_MESSAGES["name"]
    rate: int | None = None
    if typed["rate_limit_per_minute"]:
        try:
            rate = int(typed["rate_limit_per_minute"].replace("\u202f", "").replace(" ", ""))
        except ValueError:
            errors["rate_limit_per_minute"] = APP_FIELD_MESSAGES["rate_limit_per_minute"]
    if not errors:
        try:
            app = await staff.call(
                "POST",
                "feedback",
                f"/v1/tenants/{tenant}/partner-apps",
                json={
                    "name": typed["name"],
                    "contact_email": typed["contact_email"] or None,
                    "rate_limit_per_minute": rate,
                },
            )
        except ApiError as exc:
            if exc.status not in (400, 409, 422):
                raise
            errors = _field_errors(exc) or {"name": problem_message(exc)}
        else:
            flash(request, f"L'application « {app['name']} » est enregistrée.")
            return redirect(f"{staff.base}/partenaires#app-{app['id']}")
    return await _partners_page(request, staff, app_form=typed, app_errors=errors, status_code=422)


@router.post(
    "/{tenant}/partenaires/applications/{app_id}/cles",
    response_class=HTMLResponse,
    response_model=None,
)
async def create_key(request: Request, tenant: str, app_id: str, staff: TenantAdmin) -> Response:
    form = await request.form()
    check_csrf(request, staff.visitor, form)
    label = str(form.get("label") or "").strip()
    scopes = [str(s) for s in form.getlist("scopes") if str(s) in SCOPES]
    typed = {"label": label, "scopes": scopes}
    errors: dict[str, str] = {}
    if not scopes:
        errors["scopes"] = APP_FIELD_MESSAGES["scopes"]
    if len(label) > 200:
        errors["label"] = APP_FIELD_MESSAGES["label"]
    if not errors:
        try:
            key = await staff.call(
                "POST",
                "feedback",
                f"/v1/tenants/{tenant}/partner-apps/{quote(app_id, safe='')}/keys",
                json={"label": label or None, "scopes": scopes},
            )
        except ApiError as exc:
            if exc.status not in (400, 422):
                raise
            errors = _field_errors(exc) or {"scopes": problem_message(exc)}
        else:
            app = await staff.get(
                "feedback", f"/v1/tenants/{tenant}/partner-apps/{quote(app_id, safe='')}"
            )
            # The key is shown on this answer only: no redirect, no cookie ever carries it.
            return render(
                request,
                "dashboard/key_created.html",
                staff.page("partenaires", key=key, app=app, scopes=SCOPES),
                status_code=201,
            )
    return await _partners_page(
        request, staff, key_form=typed, key_errors=errors, key_app=app_id, status_code=422
    )


@router.post(
    "/{tenant}/partenaires/applications/{app_id}/cles/{key_id}/revoquer",
    response_class=HTMLResponse,
    response_model=None,
)
async def revoke_key(
    request: Request, tenant: str, app_id: str, key_id: str, staff: TenantAdmin
) -> Response:
    form = await request.form()
    check_csrf(request, staff.visitor, form)
    await staff.call(
        "DELETE",
        "feedback",
        f"/v1/tenants/{tenant}/partner-apps/{quote(app_id, safe='')}/keys/{quote(key_id, safe='')}",
    )
    flash(request, "La clé est révoquée : elle ne donne plus accès à l'API.")
    return redirect(f"{staff.base}/partenaires#app-{app_id}")


# --- exports and the synthesis report --------------------------------------------------------


def _exports_page(
    request: Request,
    staff: Staff,
    *,
    csv_filters: Filters | None = None,
    report_filters: Filters | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "dashboard/exports.html",
        staff.page(
            "exports",
            csv_filters=csv_filters or Filters(),
            report_filters=report_filters or Filters(),
        ),
        status_code=status_code,
    )


@router.get("/{tenant}/exports", response_class=HTMLResponse, response_model=None)
async def exports(request: Request, tenant: str, staff: AnalyticsStaff) -> Response:
    return _exports_page(request, staff)


@router.get("/{tenant}/exports/matrice.csv", response_model=None)
async def export_csv(request: Request, tenant: str, staff: AnalyticsStaff) -> Response:
    filters = Filters.of(request.query_params)
    if filters.errors:
        return _exports_page(request, staff, csv_filters=filters, status_code=422)
    upstream = await staff.raw(
        "analytics", f"/v1/tenants/{tenant}/export.csv", filters.api_params()
    )
    name = f"matrice-{tenant}-{filters.du or 'debut'}-{filters.au or 'aujourdhui'}.csv"
    return Response(
        upstream.content,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": upstream.headers.get(
                "content-disposition", f'attachment; filename="{name}"'
            )
        },
    )


@router.post("/{tenant}/exports/rapports", response_class=HTMLResponse, response_model=None)
async def request_report(request: Request, tenant: str, staff: AnalyticsStaff) -> Response:
    form = await request.form()
    check_csrf(request, staff.visitor, form)
    filters = Filters.of({k: str(form.get(k) or "") for k in ("du", "au", "axes")})
    if filters.errors:
        return _exports_page(request, staff, report_filters=filters, status_code=422)
    params = filters.api_params()
    body = {
        "from": params["from"],
        "to": params["to"],
        "crosshair_mode": params["crosshair"],
    }
    report = await staff.call("POST", "analytics", f"/v1/tenants/{tenant}/reports", json=body)
    return redirect(f"{staff.base}/exports/rapports/{quote(str(report['id']), safe='')}")


@router.get(
    "/{tenant}/exports/rapports/{report_id}", response_class=HTMLResponse, response_model=None
)
async def report_status(
    request: Request, tenant: str, report_id: str, staff: AnalyticsStaff
) -> Response:
    report = await staff.get(
        "analytics", f"/v1/tenants/{tenant}/reports/{quote(report_id, safe='')}"
    )
    return render(
        request,
        "dashboard/report.html",
        staff.page(
            "exports",
            report=report,
            html_href=f"{staff.base}/exports/rapports/{quote(report_id, safe='')}/html",
        ),
    )


@router.get(
    "/{tenant}/exports/rapports/{report_id}/html",
    response_class=HTMLResponse,
    response_model=None,
)
async def report_html(
    request: Request, tenant: str, report_id: str, staff: AnalyticsStaff, ctx: Web
) -> Response:
    report_path = f"{staff.base}/exports/rapports/{quote(report_id, safe='')}"
    try:
        content = await staff.get(
            "analytics", f"/v1/tenants/{tenant}/reports/{quote(report_id, safe='')}/content"
        )
    except ApiError as exc:
        if exc.status != 409:
            raise
        # Not built yet: back to its status page, which refreshes itself.
        return redirect(report_path)
    quadrants = await ctx.quadrants.listed(content["matrix"]["services"])
    page = render(
        request,
        "report/synthesis.html",
        {
            "staff": staff,
            "quadrant_rule": ctx.quadrants.rule,
            **synthesis.report_page(tenant, content, quadrants),
        },
    )
    page.headers["Content-Disposition"] = f'inline; filename="synthese-{tenant}.html"'
    return page
