"""What the portal's pages share: links, the public reads of a tenant and an entry, the
tenant's sub-navigation."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from citela_web.api_client import Api

PARIS = ZoneInfo("Europe/Paris")


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
