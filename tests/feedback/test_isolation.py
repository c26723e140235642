"""Isolation, tried on every route of the feedback API (the test enumerates them, so a new
route must say here how it is guarded): staff of one tenant cannot read or change another
tenant's feedback, a partner key of one tenant cannot act on another, a citizen cannot read
another citizen's data. Both modes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.routing import Mount

from tests.catalogue import factories as cf
from tests.feedback.conftest import PAU_ENTRIES
from tests.feedback.support import FeedbackPlatform

OPS = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}
# Open to anyone by design (reference data, the public face of a tenant, sign-up and sign-in).
PUBLIC = {
    ("GET", "/v1/scales"),
    ("GET", "/v1/tenants/public"),
    ("GET", "/v1/tenants/{tenant}"),
    ("GET", "/v1/tenants/{tenant}/scores"),
    ("POST", "/v1/accounts"),
    ("GET", "/v1/auth/confirm"),
    ("POST", "/v1/auth/confirm"),
    ("POST", "/v1/auth/confirm/resend"),
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/logout"),
}
# The caller's own data: another person's must never show.
OWN = {
    ("GET", "/v1/me"),
    ("GET", "/v1/me/feedback"),
    ("GET", "/v1/me/export"),
}
# Erases the caller's own account, and nobody else's.
ERASE = {("DELETE", "/v1/me")}
# Platform operators only.
OPERATOR = {
    ("GET", "/v1/tenants"),
    ("POST", "/v1/tenants"),
    # what `citela analytics reconcile` asks (counts, revisions, republish): operators only
    ("GET", "/v1/ops/tenants/{tenant}/answer-counts"),
    ("GET", "/v1/ops/tenants/{tenant}/answers"),
    ("POST", "/v1/ops/tenants/{tenant}/republish"),
}


@dataclass
class World:
    a: str
    b: str
    citizen_x: dict[str, str]
    fx: str
    partner_fx: str
    admin_a: dict[str, str]
    admin_a_id: str
    key_a: dict[str, str]
    app_a: str
    key_a_id: str
    outsiders: dict[str, dict[str, str]]
    y_email: str


def build(platform: FeedbackPlatform) -> World:
    c = platform.client
    a = platform.tenant
    b = platform.create_tenant(code=f"{a}-b")
    platform.publish(*cf.GEOGRAPHY, *PAU_ENTRIES, tenant=b)
    x_email, citizen_x = platform.citizen("x")
    fx = platform.post(citizen_x, comment="Mon avis, appelez le 06 12 34 56 78.").json()["id"]
    admin_a = platform.staff("admin", "analyst", "moderator")
    admin_a_id = c.get("/feedback/v1/me", headers=admin_a).json()["id"]
    base = platform.url("/partner-apps")
    app_a = c.post(base, json={"name": "Appli A"}, headers=admin_a).json()["id"]
    key = c.post(
        f"{base}/{app_a}/keys",
        json={"scopes": ["feedback:write", "feedback:read"]},
        headers=admin_a,
    ).json()
    key_a = {"X-API-Key": key["key"]}
    partner_fx = platform.post(key_a, user_ref="usager-a", comment="Posté par A.").json()["id"]
    y_email, citizen_y = platform.citizen("y")
    outsiders = {
        "staff of B": platform.staff("admin", "analyst", "moderator", tenant=b),
        "partner key of B": platform.partner("feedback:write", "feedback:read", tenant=b),
        "another citizen": citizen_y,
        "nobody": {},
    }
    assert x_email != y_email
    return World(
        a,
        b,
        citizen_x,
        fx,
        partner_fx,
        admin_a,
        admin_a_id,
        key_a,
        app_a,
        key["id"],
        outsiders,
        y_email,
    )


def attacks(w: World) -> dict[tuple[str, str], list[tuple[dict[str, str], Any]]]:
    """For each tenant route: path parameters of tenant A's objects, and a valid body."""
    fid = {"feedback_id": w.fx}
    item = {"entry_id": "service-public:mairie-pau", "satisfaction": 1, "importance": 1}
    return {
        ("GET", "/v1/tenants/{tenant}/settings"): [({}, None)],
        ("PATCH", "/v1/tenants/{tenant}/settings"): [({}, {"name": "Piraté"})],
        ("GET", "/v1/tenants/{tenant}/staff"): [({}, None)],
        ("PUT", "/v1/tenants/{tenant}/staff"): [({}, {"email": w.y_email, "roles": ["admin"]})],
        ("DELETE", "/v1/tenants/{tenant}/staff/{account_id}"): [
            ({"account_id": w.admin_a_id}, None)
        ],
        ("POST", "/v1/tenants/{tenant}/partner-apps"): [({}, {"name": "Intrus"})],
        ("GET", "/v1/tenants/{tenant}/partner-apps"): [({}, None)],
        ("GET", "/v1/tenants/{tenant}/partner-apps/{app_id}"): [({"app_id": w.app_a}, None)],
        ("POST", "/v1/tenants/{tenant}/partner-apps/{app_id}/keys"): [
            ({"app_id": w.app_a}, {"scopes": ["feedback:write"]})
        ],
        ("GET", "/v1/tenants/{tenant}/partner-apps/{app_id}/keys"): [({"app_id": w.app_a}, None)],
        ("DELETE", "/v1/tenants/{tenant}/partner-apps/{app_id}/keys/{key_id}"): [
            ({"app_id": w.app_a, "key_id": w.key_a_id}, None)
        ],
        ("GET", "/v1/tenants/{tenant}/feedback"): [({}, None)],
        ("POST", "/v1/tenants/{tenant}/feedback/batch"): [
            ({}, {"items": [{**item, "user_ref": "usager-a"}]})
        ],
        ("GET", "/v1/tenants/{tenant}/feedback/{feedback_id}"): [
            (fid, None),
            ({"feedback_id": w.partner_fx}, None),
        ],
        ("GET", "/v1/tenants/{tenant}/feedback/{feedback_id}/history"): [
            (fid, None),
            ({"feedback_id": w.partner_fx}, None),
        ],
        ("DELETE", "/v1/tenants/{tenant}/feedback/{feedback_id}"): [
            (fid, None),
            ({"feedback_id": w.partner_fx}, None),
        ],
        ("GET", "/v1/tenants/{tenant}/moderation/queue"): [({}, None)],
        ("POST", "/v1/tenants/{tenant}/moderation/decisions"): [
            ({}, {"action": "retract", "feedback_ids": [w.fx, w.partner_fx]})
        ],
    }


def _flatten(routes: list[Any], prefix: str = "") -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI >= 0.16x keeps included routers lazily
            found |= _flatten(route.original_router.routes, prefix + route.include_context.prefix)
            continue
        for method in (getattr(route, "methods", None) or set()) - {"HEAD", "OPTIONS"}:
            found.add((method, prefix + route.path))
    return found


def feedback_routes(platform: FeedbackPlatform) -> set[tuple[str, str]]:
    app: Any = platform.client.app
    mount: Any = next(
        r for r in app.router.routes if isinstance(r, Mount) and r.path == "/feedback"
    )
    found = _flatten(mount.app.routes)
    documented = {
        (method.upper(), path)
        for path, operations in platform.client.get("/feedback/openapi.json")
        .json()["paths"]
        .items()
        for method in operations
    }
    assert documented <= found, f"routes the enumeration missed: {sorted(documented - found)}"
    assert len(documented) > 20, "the enumeration must see the feedback API's routes"
    return found


def test_every_route_refuses_other_tenants_partners_and_citizens(
    platform: FeedbackPlatform,
) -> None:
    w = build(platform)
    c = platform.client
    plan = attacks(w)
    routes = feedback_routes(platform)
    special = {("POST", "/v1/tenants/{tenant}/feedback")}
    unclassified = routes - OPS - PUBLIC - OWN - ERASE - OPERATOR - set(plan) - special
    assert not unclassified, f"say how these routes are guarded: {sorted(unclassified)}"
    assert set(plan) <= routes, f"gone from the API: {sorted(set(plan) - routes)}"

    tried = 0
    for (method, template), cases in plan.items():
        for params, body in cases:
            path = "/feedback" + template.format(tenant=w.a, **params)
            for who, headers in w.outsiders.items():
                r = c.request(method, path, json=body, headers=headers)
                tried += 1
                assert r.status_code in (401, 403, 404), (
                    f"{who}: {method} {path} -> {r.status_code} {r.text}"
                )
                assert r.headers["content-type"].startswith("application/problem+json")
                assert "06 12 34 56 78" not in r.text

    # A partner key of B cannot post to A; people post as themselves and never touch X's.
    post = "/feedback" + f"/v1/tenants/{w.a}/feedback"
    r = c.post(
        post,
        json={
            "entry_id": "service-public:mairie-pau",
            "satisfaction": 1,
            "importance": 1,
            "user_ref": "usager-a",
        },
        headers=w.outsiders["partner key of B"],
    )
    assert r.status_code == 403, r.text
    for who in ("staff of B", "another citizen"):
        r = c.post(
            post,
            json={"entry_id": "service-public:mairie-pau", "satisfaction": 1, "importance": 1},
            headers=w.outsiders[who],
        )
        assert r.status_code == 201, who
        assert r.json()["id"] not in (w.fx, w.partner_fx), who

    for method, template in OPERATOR:
        for who, headers in w.outsiders.items():
            r = c.request(
                method,
                "/feedback" + template.format(tenant=w.a),
                json={
                    "feedback_ids": [w.fx],
                    "code": "pirate",
                    "name": "Pirate",
                    "siren": "123456789",
                    "territory_codes": ["64445"],
                },
                headers=headers,
            )
            assert r.status_code in (401, 403), f"{who}: {method} {template} -> {r.status_code}"

    for method, template in OWN:
        r = c.request(method, "/feedback" + template, headers=w.outsiders["another citizen"])
        assert r.status_code == 200
        assert w.fx not in r.text
        assert "06 12 34 56 78" not in r.text

    # Nothing of A changed.
    mine = c.get(f"/feedback/v1/tenants/{w.a}/feedback/{w.fx}", headers=w.citizen_x).json()
    assert mine["retracted_at"] is None
    assert mine["revision"] == 1
    assert mine["comment_status"] == "visible"
    assert c.get(f"/feedback/v1/tenants/{w.a}/feedback", headers=w.key_a).status_code == 200
    settings = c.get(f"/feedback/v1/tenants/{w.a}/settings", headers=w.admin_a).json()
    assert settings["name"] != "Piraté"
    staff = c.get(f"/feedback/v1/tenants/{w.a}/staff", headers=w.admin_a).json()
    assert [s["account_id"] for s in staff] == [w.admin_a_id]
    apps = c.get(f"/feedback/v1/tenants/{w.a}/partner-apps", headers=w.admin_a).json()
    assert [a["name"] for a in apps] == ["Appli A"]
    assert tried >= 4 * 20

    # Erasure acts on the caller only: a partner key or nobody cannot, and B's staff member
    # erasing their own account leaves X and A's staff as they were.
    assert c.delete("/feedback/v1/me", headers=w.outsiders["partner key of B"]).status_code == 403
    assert c.delete("/feedback/v1/me", headers=w.outsiders["nobody"]).status_code == 401
    assert c.delete("/feedback/v1/me", headers=w.outsiders["staff of B"]).status_code == 204
    assert c.get("/feedback/v1/me", headers=w.citizen_x).status_code == 200
    assert c.get("/feedback/v1/me", headers=w.admin_a).status_code == 200
