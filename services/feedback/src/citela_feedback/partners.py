"""Partner apps and their API keys."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from citela_common.auth import (
    PARTNER_SCOPES,
    PartnerPrincipal,
    Permission,
    generate_api_key,
    same_hash,
)
from citela_common.db import Database, utcnow
from citela_common.settings import Settings
from citela_common.tenancy import scope_to_tenant
from citela_feedback.ids import new_id
from citela_feedback.models import ApiKey, PartnerApp
from citela_feedback.schemas import ApiKeyCreatedOut, ApiKeyOut, PartnerAppOut


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

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.default_limit = settings.partner_rate_limit_per_minute

    def __call__(self, prefix: str, key_hash: str) -> PartnerPrincipal | None:
        with self.db.read() as session:
            return principal_of(session, prefix, key_hash, self.default_limit)
