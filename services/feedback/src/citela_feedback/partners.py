"""Partner apps and their API keys."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from citela_common.auth import (
    PARTNER_SCOPES,
    PartnerPrincipal,
    Permission,
    Principal,
    UserPrincipal,
    forbidden,
    generate_api_key,
    same_hash,
)
from citela_common.db import Database, utcnow
from citela_common.tenancy import scope_to_tenant
from citela_common.web import Problem, field_error
from citela_feedback.ids import new_id
from citela_feedback.models import ApiKey, PartnerApp, Tenant
from citela_feedback.schemas import ApiKeyCreatedOut, ApiKeyOut, PartnerAppOut
from citela_feedback.settings import FeedbackSettings


def app_out(app: PartnerApp) -> PartnerAppOut:
    return PartnerAppOut(
        id=app.id,
        name=app.name,
        contact_email=app.contact_email,
        rate_limit_per_minute=app.rate_limit_per_minute,
        created_at=app.created_at,
    )


def key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        app_id=key.app_id,
        prefix=key.prefix,
        label=key.label,
        scopes=[Permission(s) for s in key.scopes],
        tenants=list(key.tenants),
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def create_app(
    session: Session,
    *,
    tenant: str,
    name: str,
    contact_email: str | None = None,
    rate_limit_per_minute: int | None = None,
) -> PartnerApp:
    app = PartnerApp(
        id=new_id(),
        tenant_id=tenant,
        name=name,
        contact_email=contact_email,
        rate_limit_per_minute=rate_limit_per_minute,
        created_at=utcnow(),
    )
    session.add(app)
    session.flush()
    return app


def get_app(session: Session, app_id: str) -> PartnerApp:
    """A partner app of the session's tenant (404 otherwise)."""
    app = session.scalar(select(PartnerApp).where(PartnerApp.id == app_id))
    if app is None:
        raise Problem(404, f"No partner app {app_id!r} in this tenant.", slug="unknown-app")
    return app


def apps(session: Session) -> list[PartnerAppOut]:
    rows = session.scalars(select(PartnerApp).order_by(PartnerApp.created_at, PartnerApp.id))
    return [app_out(a) for a in rows]


def keys(session: Session, app_id: str) -> list[ApiKeyOut]:
    """The app's keys (never the keys themselves), oldest first."""
    app = get_app(session, app_id)
    rows = session.scalars(
        select(ApiKey).where(ApiKey.app_id == app.id).order_by(ApiKey.created_at, ApiKey.id)
    )
    return [key_out(k) for k in rows]


def key_tenants(principal: Principal, tenant: str, wanted: Iterable[str] | None) -> list[str]:
    """The tenants a new key of ``tenant``'s app will act for (default: ``tenant``): each one
    only where ``principal`` is an admin, or a platform operator (403 otherwise)."""
    codes = sorted(set(wanted or [tenant]))
    operator = isinstance(principal, UserPrincipal) and principal.operator
    refused = [t for t in codes if not operator and not principal.can(t, Permission.TENANT_ADMIN)]
    if refused:
        raise forbidden(f"Only an admin of {', '.join(refused)} may give a key access there.")
    return codes


def issue_key(
    db: Database,
    session: Session,
    tenant: str,
    app_id: str,
    *,
    scopes: Iterable[str],
    tenants: list[str],
    label: str | None,
) -> ApiKeyCreatedOut:
    """A new key of an app of ``tenant`` (``session`` scoped to it) for ``tenants`` (checked
    by ``key_tenants``), each of which must exist (422)."""
    app = get_app(session, app_id)
    missing = [t for t in tenants if t != tenant and not _tenant_exists(db, t)]
    if missing:
        raise Problem(
            422,
            f"Unknown tenants: {', '.join(missing)}.",
            slug="validation",
            errors=[field_error("body.tenants", "unknown tenant code", "unknown")],
        )
    return create_key(session, app, scopes=scopes, tenants=tenants, label=label)


def _tenant_exists(db: Database, code: str) -> bool:
    with db.transaction() as session:  # another tenant's scope: a transaction of its own
        scope_to_tenant(session, code)
        return session.get(Tenant, code) is not None


def revoke_key(session: Session, app_id: str, key_id: str) -> None:
    """Revoke an app's key at once (already revoked: nothing changes)."""
    app = get_app(session, app_id)
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.app_id == app.id))
    if key is None:
        raise Problem(404, f"No key {key_id!r} for this app.", slug="unknown-key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()


def create_key(
    session: Session,
    app: PartnerApp,
    *,
    scopes: Iterable[str],
    tenants: Iterable[str],
    label: str | None = None,
) -> ApiKeyCreatedOut:
    wanted = sorted({Permission(s) for s in scopes})
    if not set(wanted) <= PARTNER_SCOPES:
        raise ValueError(f"partner keys may only hold {sorted(PARTNER_SCOPES)}")
    new = generate_api_key()
    key = ApiKey(
        id=new_id(),
        tenant_id=app.tenant_id,
        app_id=app.id,
        prefix=new.prefix,
        key_hash=new.key_hash,
        label=label,
        scopes=[s.value for s in wanted],
        tenants=sorted(set(tenants)),
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    return ApiKeyCreatedOut(**key_out(key).model_dump(), key=new.plaintext)


def principal_of(
    session: Session, prefix: str, key_hash: str, default_limit: int
) -> PartnerPrincipal | None:
    """The partner behind a live key (an auth lookup across tenants, by unique prefix).

    Leaves ``session`` scoped to the key's owner tenant.
    """
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or key.revoked_at is not None or not same_hash(key.key_hash, key_hash):
        return None
    scope_to_tenant(session, key.tenant_id)
    app = session.get(PartnerApp, key.app_id)
    if app is None or app.disabled_at is not None:
        return None
    return PartnerPrincipal(
        app_id=app.id,
        key_id=key.id,
        owner_tenant=key.tenant_id,
        tenants=frozenset(key.tenants),
        scopes=frozenset(Permission(s) for s in key.scopes),
        rate_limit_per_minute=app.rate_limit_per_minute or default_limit,
    )


class KeyResolver:
    """Finds the partner behind an API key, in a transaction of its own."""

    def __init__(self, db: Database, settings: FeedbackSettings) -> None:
        self.db = db
        self.default_limit = settings.partner_rate_limit_per_minute

    def __call__(self, prefix: str, key_hash: str) -> PartnerPrincipal | None:
        with self.db.read() as session:
            return principal_of(session, prefix, key_hash, self.default_limit)
