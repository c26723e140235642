"""What every dashboard page shares: access rules (the staff dependencies), API calls with the
staff token, filters, the sub-navigation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request

from citela_common.auth import Permission
from citela_web.api_client import ApiError, Params
from citela_web.context import CurrentVisitor, web
from citela_web.errors import Refused
from citela_web.filters import french_date, french_number
from citela_web.matrix_chart import Chart, ChartPoint, Estimate, build_chart
from citela_web.session import Visitor

PREFIX = "/tableau-de-bord"

FORBIDDEN = "Vous n'avez pas accès au tableau de bord de cette collectivité."
ROLE_FORBIDDEN = (
    "Votre rôle dans cette collectivité ne donne pas accès à cette page du tableau de bord."
)
CROSSHAIR_MODES = {"moyennes": "grand_means", "milieu": "midpoint"}
LEVELS = ("services", "domaines")


@dataclass
class Staff:
    """The signed-in staff member on one tenant's dashboard, and what their roles allow."""

    request: Request
    visitor: Visitor
    tenant: str
    tenant_name: str = ""
    perms: frozenset[Permission] = field(default_factory=frozenset)

    @property
    def token(self) -> str | None:
        return self.visitor.token

    @property
    def analytics(self) -> bool:
        return Permission.ANALYTICS_READ in self.perms

    @property
    def moderation(self) -> bool:
        return Permission.FEEDBACK_MODERATE in self.perms

    @property
    def admin(self) -> bool:
        return Permission.TENANT_ADMIN in self.perms

    @property
    def base(self) -> str:
        return f"/tableau-de-bord/{self.tenant}"

    async def get(self, service: str, path: str, params: Params | None = None) -> Any:
        return await self.call("GET", service, path, params=params)

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
    ) -> Any:
        api = web(self.request).api
        try:
            response = await api.request(
                method, service, path, token=self.token, params=params, json=json
            )
        except ApiError as exc:
            if exc.status == 403:
                raise Refused(FORBIDDEN) from exc
            raise
        return response.json() if response.content else None

    async def raw(self, service: str, path: str, params: Params | None = None) -> Any:
        api = web(self.request).api
        try:
            return await api.request("GET", service, path, token=self.token, params=params)
        except ApiError as exc:
            if exc.status == 403:
                raise Refused(FORBIDDEN) from exc
            raise

    def nav(self, current: str) -> list[dict[str, Any]]:
        """The sub-navigation: only the pages the visitor's roles open."""
        items = [
            ("matrice", "Matrice", "/", self.analytics),
            ("priorites", "Priorités", "/priorites", self.analytics),
            ("tendances", "Tendances", "/tendances", self.analytics),
            ("moderation", "Modération", "/moderation", self.moderation),
            ("partenaires", "Applications partenaires", "/partenaires", self.admin),
            ("exports", "Exports", "/exports", self.analytics),
        ]
        return [
            {"slug": slug, "label": label, "href": self.base + path, "current": slug == current}
            for slug, label, path, allowed in items
            if allowed
        ]

    def page(self, current: str, **context: Any) -> dict[str, Any]:
        return {"staff": self, "tenant": self.tenant, "subnav": self.nav(current), **context}


async def staff_of(
    request: Request, tenant: str, current: Visitor, need: Permission | None = None
) -> Staff:
    """The staff member, or a refusal: checked before any API is called."""
    if not current.signed_in or current.user is None:
        # The web app's handler sends a 401 to the sign-in page, back here afterwards.
        raise ApiError(401, "Connexion requise", "Sign in to reach the dashboard.")
    if not current.is_staff(tenant):
        raise Refused(FORBIDDEN)
    staff = Staff(request, current, tenant, perms=current.user.permissions(tenant))
    if need is not None and need not in staff.perms:
        raise Refused(ROLE_FORBIDDEN)
    try:
        info = await web(request).api.get("feedback", f"/v1/tenants/{quote(tenant, safe='')}")
        staff.tenant_name = str(info.get("name") or tenant)
    except ApiError as exc:
        if exc.status != 404:
            raise
        staff.tenant_name = tenant
    return staff


def _staff_with(need: Permission | None) -> Callable[..., Awaitable[Staff]]:
    async def dependency(request: Request, tenant: str, current: CurrentVisitor) -> Staff:
        return await staff_of(request, tenant, current, need)

    return dependency


# The signed-in staff member of the tenant in the path, with the role a page needs (a refusal
# is the French 403 page, see errors.py; no session, the sign-in page).
StaffMember = Annotated[Staff, Depends(_staff_with(None))]
AnalyticsStaff = Annotated[Staff, Depends(_staff_with(Permission.ANALYTICS_READ))]
Moderator = Annotated[Staff, Depends(_staff_with(Permission.FEEDBACK_MODERATE))]
TenantAdmin = Annotated[Staff, Depends(_staff_with(Permission.TENANT_ADMIN))]


# --- filters ---------------------------------------------------------------------------------


def _date_or_error(raw: str, errors: dict[str, str], name: str) -> str:
    if not raw:
        return ""
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        errors[name] = "Indiquez une date valide, au format jj/mm/aaaa."
        return raw


@dataclass
class Filters:
    """The GET filters shared by the analytics pages (period, crosshairs, area, level)."""

    du: str = ""
    au: str = ""
    axes: str = ""
    domaine: str = ""
    niveau: str = "services"
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, query: Mapping[str, str]) -> Filters:
        errors: dict[str, str] = {}
        du = _date_or_error(query.get("du", "").strip(), errors, "du")
        au = _date_or_error(query.get("au", "").strip(), errors, "au")
        if du and au and not errors and au < du:
            errors["au"] = "La fin de la période doit suivre son début."
        axes = query.get("axes", "")
        niveau = query.get("niveau", "services")
        return cls(
            du=du,
            au=au,
            axes=axes if axes in CROSSHAIR_MODES else "",
            domaine=query.get("domaine", "").strip()[:100],
            niveau=niveau if niveau in LEVELS else "services",
            errors=errors,
        )

    @property
    def scope(self) -> str:
        return "area" if self.niveau == "domaines" else "service"

    def api_params(self) -> dict[str, str | None]:
        return {
            "from": self.du or None,
            "to": self.au or None,
            "crosshair": CROSSHAIR_MODES.get(self.axes),
        }

    def points(self, matrix: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The matrix's services or areas these filters show, in priority order."""
        if self.niveau == "domaines":
            shown = [a for a in matrix["areas"] if not self.domaine or a["key"] == self.domaine]
        else:
            shown = [
                s
                for s in matrix["services"]
                if not self.domaine or s.get("policy_area") == self.domaine
            ]
        return ordered(shown)

    def query(self, **override: str) -> str:
        """The query string of these filters (for links that keep them), `?…` or ``."""
        values = {
            "du": self.du,
            "au": self.au,
            "axes": self.axes,
            "domaine": self.domaine,
            "niveau": self.niveau if self.niveau != "services" else "",
            **override,
        }
        kept = {k: v for k, v in values.items() if v}
        return "?" + urlencode(kept) if kept else ""

    @property
    def period_words(self) -> str:
        if self.du and self.au:
            return f"du {french_date(self.du)} au {french_date(self.au)}"
        if self.du:
            return f"depuis le {french_date(self.du)}"
        if self.au:
            return f"jusqu'au {french_date(self.au)}"
        return "depuis le début"


def _estimate(raw: Mapping[str, Any] | None) -> Estimate:
    raw = raw or {}
    return Estimate(raw.get("mean"), raw.get("ci_low"), raw.get("ci_high"))


def chart_point(tenant: str, raw: Mapping[str, Any]) -> ChartPoint:
    key = str(raw["key"])
    area = raw.get("scope") == "area"
    return ChartPoint(
        key=key,
        label=str(raw.get("label") or key),
        n=int(raw.get("n") or 0),
        importance=_estimate(raw.get("importance")),
        satisfaction=_estimate(raw.get("satisfaction")),
        gap=_estimate(raw.get("gap")),
        quadrant=raw.get("quadrant"),
        quadrant_label=raw.get("quadrant_label"),
        status=str(raw.get("status") or "clear"),
        href=area_href(tenant, key) if area else service_href(tenant, key),
        policy_area=raw.get("policy_area"),
        priority=raw.get("priority"),
    )


def ordered(points: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Priority order, then the cells without enough answers by label."""
    return sorted(
        points,
        key=lambda p: (
            p.get("priority") is None,
            p.get("priority") or 0,
            str(p.get("label") or "").lower(),
        ),
    )


def sentiment_bar(sentiment: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Negative / neutral / positive shares of the scored comments, for a small bar."""
    labels = (("negative", "négatifs"), ("neutral", "neutres"), ("positive", "positifs"))
    scored = sum(int(sentiment.get(k) or 0) for k, _ in labels)
    return [
        {
            "key": key,
            "label": label,
            "count": int(sentiment.get(key) or 0),
            "share": (int(sentiment.get(key) or 0) / scored) if scored else 0.0,
        }
        for key, label in labels
    ]


def chart_of(
    points: Sequence[ChartPoint], crosshairs: Mapping[str, Any], names: Mapping[str, str]
) -> Chart | None:
    """The matrix chart of ``points`` (zoomed on them), once the crosshairs are known."""
    if crosshairs.get("importance") is None or crosshairs.get("satisfaction") is None:
        return None
    return build_chart(
        points,
        float(crosshairs["importance"]),
        float(crosshairs["satisfaction"]),
        names=names,
        zoom=True,
    )


def service_href(tenant: str, entry_id: str) -> str:
    return f"/tableau-de-bord/{tenant}/services/{quote(entry_id, safe=':')}"


def area_href(tenant: str, area: str) -> str:
    return f"/tableau-de-bord/{tenant}/domaines/{quote(area, safe='')}"


def crosshair_words(crosshairs: Mapping[str, Any]) -> str:
    """Where the axes cross, in words."""
    if crosshairs.get("mode") == "midpoint":
        return "Les axes se croisent au milieu de l'échelle (3 sur 5)."
    imp, sat = crosshairs.get("importance"), crosshairs.get("satisfaction")
    if imp is None or sat is None:
        return "Les axes se croisent à la moyenne de la collectivité (aucune réponse encore)."
    return (
        "Les axes se croisent à la moyenne de la collectivité : importance "
        f"{french_number(imp, 2)}, satisfaction {french_number(sat, 2)} "
        f"({french_number(crosshairs.get('answers', 0), 0)} réponses)."
    )
