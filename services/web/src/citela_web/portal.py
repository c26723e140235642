"""The citizen portal: find one's authority, browse its catalogue, read a service.

Every read goes through the public APIs (catalogue for entries and territories, feedback for
tenants and public scores). The feedback form is in `feedback_form.py`, the account pages in
`account.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from citela_web.api_client import Api, ApiError
from citela_web.context import CurrentVisitor, Web
from citela_web.pages import redirect, render
from citela_web.portal_common import (
    entry_path,
    get_entry,
    link,
    public_tenant,
    public_tenants,
    tenant_nav,
    today_in_paris,
)

router = APIRouter(tags=["portal"])

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


# --- home and territory search -------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, current: CurrentVisitor, ctx: Web) -> HTMLResponse:
    api = ctx.api
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
async def territories(
    request: Request, current: CurrentVisitor, ctx: Web, q: str = ""
) -> HTMLResponse:
    api = ctx.api
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
    request: Request, tenant: str, current: CurrentVisitor, ctx: Web, territoire: str | None = None
) -> HTMLResponse:
    api = ctx.api
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
    ctx: Web,
    q: str = "",
    domaine: str = "",
    type: str = "",
    territoire: str = "",
    curseur: str = "",
) -> HTMLResponse:
    api = ctx.api
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
    ctx: Web,
    territoire: str = "",
    curseur: str = "",
) -> HTMLResponse:
    api = ctx.api
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
    request: Request,
    tenant: str,
    entry_id: str,
    current: CurrentVisitor,
    ctx: Web,
    territoire: str = "",
) -> HTMLResponse:
    api = ctx.api
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
