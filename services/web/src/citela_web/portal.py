"""The citizen portal: find one's authority, browse its catalogue, read a service, give feedback.

Every read goes through the public APIs (catalogue for entries and territories, feedback for
tenants, scales, public scores and the person's own feedback). The account pages live in
`account.py`; their router is included here.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from citela_web import account
from citela_web.api_client import Api, ApiError
from citela_web.app import check_csrf, flash, redirect, render, visitor, web
from citela_web.messages import field_messages, problem_message
from citela_web.session import Visitor

router = APIRouter(tags=["portal"])
router.include_router(account.router)
CurrentVisitor = Annotated[Visitor, Depends(visitor)]

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche")
PAGE_SIZE = 20
EVENTS_WINDOW_DAYS = 180

# `type=` of the catalogue pages: the API's kinds, and the French words people may type.
KINDS: dict[str, str] = {
    "service": "Service public",
    "dataset": "Jeu de données",
    "event": "Événement",
    "place": "Lieu",
}
KIND_ALIASES: dict[str, str] = {
    **{k: k for k in KINDS},
    "donnees": "dataset",
    "jeu-de-donnees": "dataset",
    "evenement": "event",
    "lieu": "place",
}
SOURCES: dict[str, str] = {
    "service-public": "Annuaire de l'administration (Service-Public.fr)",
    "datagouv": "data.gouv.fr",
    "datatourisme": "DATAtourisme",
    "territories": "Découpage administratif (INSEE, geo.api.gouv.fr)",
}
CONTACT_LABELS: dict[str, str] = {
    "phone": "Téléphone",
    "email": "Courriel",
    "website": "Site internet",
    "form": "Formulaire de contact",
    "fax": "Télécopie",
    "social": "Réseau social",
}


def today_in_paris() -> date:
    """The citizen's date (the server may run in UTC)."""
    return datetime.now(PARIS).date()


def link(path: str, **params: Any) -> str:
    """`path?k=v…` without the empty parameters (territory kept, filters dropped…)."""
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(clean)}" if clean else path


def entry_path(entry_id: str) -> str:
    """Entry ids are `<source>:<remote id>` and may hold slashes or spaces."""
    return quote(entry_id, safe=":")


async def public_tenant(api: Api, tenant: str) -> dict[str, Any]:
    """What the public may know of the tenant (404 -> French error page)."""
    result: dict[str, Any] = await api.get("feedback", f"/v1/tenants/{quote(tenant)}")
    return result


async def public_tenants(api: Api) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await api.get("feedback", "/v1/tenants/public")
    return result


async def get_entry(api: Api, tenant: str, entry_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await api.get(
        "catalogue", f"/v1/tenants/{quote(tenant)}/entries/{entry_path(entry_id)}"
    )
    return result


async def chosen_territory(api: Api, tenant: str, code: str | None) -> dict[str, Any] | None:
    """The territory the person chose (`territoire`), checked against the tenant's catalogue."""
    if not code:
        return None
    found: dict[str, Any] = await api.get(
        "catalogue", f"/v1/tenants/{quote(tenant)}/territories/{quote(code)}"
    )
    return found


async def territory_choices(api: Api, tenant: dict[str, Any]) -> list[dict[str, Any]]:
    """The communes the tenant covers (for the chooser), by name."""
    communes: dict[str, dict[str, Any]] = {}
    for code in tenant["territory_codes"]:
        try:
            row = await api.get(
                "catalogue", f"/v1/tenants/{quote(tenant['code'])}/territories/{quote(code)}"
            )
        except ApiError as exc:
            if exc.status == 404:  # not harvested yet: nothing to choose there
                continue
            raise
        if row["level"] in ("commune", "arrondissement"):
            communes[row["code"]] = {"code": row["code"], "name": row["name"]}
        for child in row["children"]:
            if child["level"] in ("commune", "arrondissement"):
                communes[child["code"]] = {"code": child["code"], "name": child["name"]}
    return sorted(communes.values(), key=lambda c: (str(c["name"]).casefold(), c["code"]))


def covers(tenant: Mapping[str, Any], hit: Mapping[str, Any]) -> bool:
    """Whether the tenant's territory holds the commune (itself, its EPCI, département…)."""
    # Same convention as the catalogue and feedback services: a bare 2-digit code is a
    # département, a région is `region:<code>` ("75": Paris, "region:75": Nouvelle-Aquitaine).
    region = hit.get("region_code")
    places = {
        hit.get("code"),
        hit.get("epci_code"),
        hit.get("departement_code"),
        f"region:{region}" if region else None,
    }
    return bool(places & set(tenant.get("territory_codes") or []))


def tenant_nav(tenant: str, current: str, territoire: str | None) -> list[dict[str, Any]]:
    pages = [
        ("accueil", "Accueil de la collectivité", f"/c/{tenant}/"),
        ("services", "Services et données", f"/c/{tenant}/services"),
        ("evenements", "Événements", f"/c/{tenant}/evenements"),
    ]
    return [
        {"label": label, "href": link(href, territoire=territoire), "current": key == current}
        for key, label, href in pages
    ]


# --- home and territory search -------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, current: CurrentVisitor) -> HTMLResponse:
    api = web(request).api
    tenants = await public_tenants(api)
    places = await asyncio.gather(*(territory_summary(api, t) for t in tenants))
    cards = [{**t, "places": p} for t, p in zip(tenants, places, strict=True)]
    return render(request, "portal/home.html", {"tenants": cards, "q": ""})


async def territory_summary(api: Api, tenant: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The names of the first territories a tenant covers and how many communes each holds,
    from its catalogue (a code it has not harvested yet is left out)."""
    out: list[dict[str, Any]] = []
    for code in list(tenant.get("territory_codes") or [])[:3]:
        try:
            row = await api.get(
                "catalogue", f"/v1/tenants/{tenant['code']}/territories/{quote(code, safe='')}"
            )
        except ApiError as exc:
            if exc.status in (404, 422):
                continue
            raise
        communes = [c for c in row.get("children") or [] if c.get("level") == "commune"]
        out.append({"name": row["name"], "communes": len(communes)})
    return out


@dataclass
class CommuneResult:
    code: str
    name: str
    postal_codes: list[str]
    tenants: list[dict[str, Any]] = field(default_factory=list)


@router.get("/territoires", response_class=HTMLResponse)
async def territories(request: Request, current: CurrentVisitor, q: str = "") -> HTMLResponse:
    api = web(request).api
    q = q.strip()
    problem = None
    results: list[CommuneResult] = []
    if len(q) < 2:
        problem = "Saisissez au moins 2 caractères : le nom d'une commune ou son code postal."
    elif len(q) > 100:
        problem = "Votre recherche est trop longue (100 caractères au plus)."
    else:
        tenants = {t["code"]: t for t in await public_tenants(api)}
        hits = await api.get("catalogue", "/v1/territories", params={"q": q, "limit": 100})
        by_code: dict[str, CommuneResult] = {}
        for hit in hits:
            tenant = tenants.get(hit["tenant"])
            if tenant is None or not covers(tenant, hit):
                continue  # a catalogue holds a wider geography than the tenant serves
            result = by_code.setdefault(
                hit["code"], CommuneResult(hit["code"], hit["name"], list(hit["postal_codes"]))
            )
            if all(t["code"] != tenant["code"] for t in result.tenants):
                result.tenants.append(tenant)
        results = list(by_code.values())
    return render(
        request,
        "portal/territories.html",
        {"q": q, "results": results, "problem": problem, "link": link},
        status_code=200,
    )


# --- an authority's catalogue --------------------------------------------------------------


async def upcoming_events(
    api: Api, tenant: str, territoire: str | None, *, limit: int, cursor: str | None = None
) -> Any:
    """A page of the tenant's events from today (Paris) over the next EVENTS_WINDOW_DAYS."""
    start = today_in_paris()
    return await api.get(
        "catalogue",
        f"/v1/tenants/{quote(tenant)}/events",
        params={
            "from": start.isoformat(),
            "to": (start + timedelta(days=EVENTS_WINDOW_DAYS)).isoformat(),
            "territory": territoire,
            "cursor": cursor,
            "limit": limit,
        },
    )


@router.get("/c/{tenant}/", response_class=HTMLResponse)
async def tenant_home(
    request: Request, tenant: str, current: CurrentVisitor, territoire: str | None = None
) -> HTMLResponse:
    api = web(request).api
    info = await public_tenant(api, tenant)
    territory = await chosen_territory(api, tenant, territoire)
    areas = await api.get(
        "catalogue", f"/v1/tenants/{quote(tenant)}/policy-areas", params={"territory": territoire}
    )
    events = await upcoming_events(api, tenant, territoire, limit=5)
    return render(
        request,
        "portal/tenant.html",
        {
            "tenant": info,
            "territory": territory,
            "territoire": territoire or "",
            "choices": await territory_choices(api, info),
            "areas": sorted(areas.items(), key=lambda kv: (-kv[1], kv[0])),
            "events": events["items"],
            "nav": tenant_nav(tenant, "accueil", territoire),
            "kind_labels": KINDS,
            "link": link,
            "entry_path": entry_path,
        },
    )


@router.get("/c/{tenant}", include_in_schema=False)
async def tenant_home_slash(request: Request, tenant: str) -> Response:
    return redirect(link(f"/c/{tenant}/", **dict(request.query_params)))


@router.get("/c/{tenant}/services", response_class=HTMLResponse)
async def services(
    request: Request,
    tenant: str,
    current: CurrentVisitor,
    q: str = "",
    domaine: str = "",
    type: str = "",
    territoire: str = "",
    curseur: str = "",
) -> HTMLResponse:
    api = web(request).api
    info = await public_tenant(api, tenant)
    territory = await chosen_territory(api, tenant, territoire)
    kind = KIND_ALIASES.get(type.strip().lower()) if type else None
    areas = await api.get(
        "catalogue", f"/v1/tenants/{quote(tenant)}/policy-areas", params={"territory": territoire}
    )
    page = await api.get(
        "catalogue",
        f"/v1/tenants/{quote(tenant)}/entries",
        params={
            "q": q.strip()[:200],
            "policy_area": domaine,
            "kind": kind,
            "territory": territoire,
            "cursor": curseur,
            "limit": PAGE_SIZE,
        },
    )
    filters = {"q": q.strip(), "domaine": domaine, "type": kind or "", "territoire": territoire}
    elsewhere: list[dict[str, Any]] = []
    if territoire and filters["q"] and not curseur:
        # A service of the next commune often serves the chosen one too: show what the
        # search finds in the rest of the authority's territory, below.
        wider = await api.get(
            "catalogue",
            f"/v1/tenants/{quote(tenant)}/entries",
            params={
                "q": filters["q"][:200],
                "policy_area": domaine,
                "kind": kind,
                "limit": PAGE_SIZE,
            },
        )
        shown = {e["entry_id"] for e in page["items"]}
        elsewhere = [e for e in wider["items"] if e["entry_id"] not in shown]
    return render(
        request,
        "portal/services.html",
        {
            "tenant": info,
            "territory": territory,
            "territoire": territoire,
            "choices": await territory_choices(api, info),
            "filters": filters,
            "areas": sorted(areas.items(), key=lambda kv: kv[0]),
            "kinds": [(k, v) for k, v in KINDS.items() if k != "place"],
            "kind_labels": KINDS,
            "items": page["items"],
            "elsewhere": elsewhere,
            "next_page": link(f"/c/{tenant}/services", **filters, curseur=page["next_cursor"])
            if page["next_cursor"]
            else None,
            "first_page": link(f"/c/{tenant}/services", **filters) if curseur else None,
            "nav": tenant_nav(tenant, "services", territoire),
            "link": link,
            "entry_path": entry_path,
        },
    )


@router.get("/c/{tenant}/evenements", response_class=HTMLResponse)
async def events(
    request: Request,
    tenant: str,
    current: CurrentVisitor,
    territoire: str = "",
    curseur: str = "",
) -> HTMLResponse:
    api = web(request).api
    info = await public_tenant(api, tenant)
    territory = await chosen_territory(api, tenant, territoire)
    page = await upcoming_events(api, tenant, territoire, limit=PAGE_SIZE, cursor=curseur)
    base = f"/c/{tenant}/evenements"
    return render(
        request,
        "portal/events.html",
        {
            "tenant": info,
            "territory": territory,
            "territoire": territoire,
            "items": page["items"],
            "window_end": today_in_paris() + timedelta(days=EVENTS_WINDOW_DAYS),
            "next_page": link(base, territoire=territoire, curseur=page["next_cursor"])
            if page["next_cursor"]
            else None,
            "first_page": link(base, territoire=territoire) if curseur else None,
            "nav": tenant_nav(tenant, "evenements", territoire),
            "kind_labels": KINDS,
            "link": link,
            "entry_path": entry_path,
        },
    )


# --- one entry ---------------------------------------------------------------------------


def week_table(slots: list[dict[str, Any]], today: date) -> list[dict[str, Any]]:
    """Seven rows, Monday first: the day's opening slots and notes, today's row marked."""
    rows = []
    for weekday, name in enumerate(WEEKDAYS):
        day = sorted(
            (s for s in slots if s["weekday"] == weekday), key=lambda s: (s["opens"], s["closes"])
        )
        rows.append(
            {
                "name": name,
                "today": weekday == today.weekday(),
                "slots": [f"{s['opens']}\u2013{s['closes']}".replace(":", " h ") for s in day],
                "notes": sorted({s["note"] for s in day if s.get("note")}),
            }
        )
    return rows


def contact_links(contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for c in contacts:
        value = str(c["value"]).strip()
        href = None
        if c["kind"] == "phone":
            href = "tel:" + "".join(ch for ch in value if ch.isdigit() or ch == "+")
        elif c["kind"] == "email":
            href = "mailto:" + value
        elif c["kind"] in ("website", "form", "social") and value.startswith(("http:", "https:")):
            href = value
        out.append(
            {
                "kind": CONTACT_LABELS.get(c["kind"], c["kind"]),
                "label": c.get("label"),
                "value": value,
                "href": href,
            }
        )
    return out


async def public_scores(api: Api, tenant: dict[str, Any], entry_id: str) -> dict[str, Any] | None:
    """The entry's public averages, where the tenant publishes them."""
    if not tenant.get("public_averages"):
        return None
    try:
        scores: dict[str, Any] = await api.get(
            "feedback",
            f"/v1/tenants/{quote(tenant['code'])}/scores",
            params={"entry_id": entry_id},
        )
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return scores


@router.get("/c/{tenant}/services/{entry_id:path}", response_class=HTMLResponse)
async def entry_page(
    request: Request, tenant: str, entry_id: str, current: CurrentVisitor, territoire: str = ""
) -> HTMLResponse:
    api = web(request).api
    info = await public_tenant(api, tenant)
    entry = await get_entry(api, tenant, entry_id)
    today = today_in_paris()
    return render(
        request,
        "portal/entry.html",
        {
            "tenant": info,
            "entry": entry,
            "territoire": territoire,
            "kind_label": KINDS.get(entry["kind"], entry["kind"]),
            "week": week_table(entry["opening_hours"], today),
            "today": today,
            "contacts": contact_links(entry["contacts"]),
            "source": SOURCES.get(entry["provenance"]["source"], entry["provenance"]["source"]),
            "scores": await public_scores(api, info, entry["entry_id"]),
            "feedback_link": link(f"/c/{tenant}/donner-un-avis", service=entry["entry_id"]),
            "nav": tenant_nav(tenant, "services", territoire),
            "link": link,
        },
    )


# --- the feedback form -------------------------------------------------------------------


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


DRAFT_FIELDS = ("satisfaction", "importance", "comment", "idempotency_key")


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
        return account.login_page(request, suivant=here, draft=draft, status_code=401)
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
