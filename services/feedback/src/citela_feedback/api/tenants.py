"""Tenants, their staff and their partner apps: /v1/tenants…"""

# No `from __future__ import annotations`: FastAPI reads the route signatures, whose
# dependency aliases are local to router().

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from citela_common.auth import Permission, Principal, UserPrincipal, forbidden
from citela_common.db import utcnow
from citela_common.tenancy import scope_to_tenant
from citela_common.web import Problem, field_error
from citela_feedback import partners, tenants
from citela_feedback.accounts import normalise_email
from citela_feedback.api.deps import TENANT_PATH, Deps, problems
from citela_feedback.domain.rules import TenantRules
from citela_feedback.models import Account, ApiKey, PartnerApp, StaffRole, Tenant
from citela_feedback.schemas import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    PartnerAppIn,
    PartnerAppOut,
    StaffIn,
    StaffOut,
    TenantIn,
    TenantOut,
    TenantPatch,
    TenantPublicOut,
)

TenantPath = Annotated[str, Path(pattern=TENANT_PATH, description="code of the tenant")]
IdPath = Annotated[str, Path(min_length=1, max_length=32)]


def router(deps: Deps) -> APIRouter:
    ctx = deps.ctx
    api = APIRouter(prefix="/v1/tenants", tags=["collectivités"])

    def admin(
        request: Request, principal: Annotated[Principal, Depends(deps.principal)]
    ) -> Principal:
        """Admin of the path's tenant, or a platform operator."""
        tenant = str(request.path_params.get("tenant", ""))
        if isinstance(principal, UserPrincipal) and principal.operator:
            return principal
        if not principal.can(tenant, Permission.TENANT_ADMIN):
            raise forbidden(f"`{Permission.TENANT_ADMIN.value}` on tenant {tenant!r} is required.")
        return principal

    Admin = Annotated[Principal, Depends(admin)]  # noqa: N806 - a type alias
    Operator = Annotated[UserPrincipal, Depends(deps.operator)]  # noqa: N806 - a type alias

    @api.post(
        "",
        status_code=201,
        response_model=TenantOut,
        summary="Create a tenant (platform operators)",
        responses=problems(401, 403, 409, 422),
    )
    def create_tenant(body: TenantIn, _: Operator) -> TenantOut:
        with ctx.db.transaction() as session:
            scope_to_tenant(session, body.code)
            tenant = tenants.create(
                session,
                code=body.code,
                name=body.name,
                siren=body.siren,
                territory_codes=body.territory_codes,
                rules=body.rules,
            )
            return tenants.out(tenant)

    @api.get(
        "",
        response_model=list[TenantOut],
        summary="Every tenant (platform operators)",
        responses=problems(401, 403),
    )
    def list_tenants(_: Operator) -> list[TenantOut]:
        with ctx.db.transaction() as session:
            rows = session.scalars(select(Tenant).order_by(Tenant.tenant_id)).all()
            return [tenants.out(t) for t in rows]

    @api.get(
        "/public",
        response_model=list[TenantPublicOut],
        summary="What the public may know of every tenant, by name (the portal's directory)",
    )
    def list_public_tenants() -> list[TenantPublicOut]:
        with ctx.db.transaction() as session:
            rows = session.scalars(select(Tenant).order_by(Tenant.name, Tenant.tenant_id)).all()
            return [tenants.public_out(t) for t in rows]

    @api.get(
        "/{tenant}",
        response_model=TenantPublicOut,
        summary="What the public may know of a tenant (name, territory, comment rules)",
        responses=problems(404, 422),
    )
    def get_tenant(tenant: TenantPath) -> TenantPublicOut:
        with deps.tenant_session(tenant) as (_session, row):
            return tenants.public_out(row)

    @api.get(
        "/{tenant}/settings",
        response_model=TenantOut,
        summary="The tenant's settings (admins)",
        responses=problems(401, 403, 404, 422),
    )
    def get_settings(tenant: TenantPath, _: Admin) -> TenantOut:
        with deps.tenant_session(tenant) as (_session, row):
            return tenants.out(row)

    @api.patch(
        "/{tenant}/settings",
        response_model=TenantOut,
        summary="Change the tenant's name, territory or rules (admins)",
        responses=problems(401, 403, 404, 422),
    )
    def patch_settings(tenant: TenantPath, body: TenantPatch, _: Admin) -> TenantOut:
        with deps.tenant_session(tenant) as (_session, row):
            if body.name is not None:
                row.name = body.name
            if body.territory_codes is not None:
                row.territory_codes = sorted(set(body.territory_codes))
            if body.rules is not None:
                merged = {**row.rules, **body.rules.model_dump(exclude_none=True, mode="json")}
                row.rules = TenantRules.model_validate(merged).model_dump(mode="json")
            row.updated_at = utcnow()
            return tenants.out(row)

    # --- staff ---------------------------------------------------------------------------

    @api.get(
        "/{tenant}/staff",
        response_model=list[StaffOut],
        summary="Staff of the tenant and their roles (admins)",
        responses=problems(401, 403, 404, 422),
    )
    def list_staff(tenant: TenantPath, _: Admin) -> list[StaffOut]:
        with deps.tenant_session(tenant) as (session, _row):
            return tenants.staff(session)

    @api.put(
        "/{tenant}/staff",
        response_model=StaffOut,
        summary="Give an account its roles in the tenant (replaces its roles there)",
        responses=problems(401, 403, 404, 422),
    )
    def put_staff(tenant: TenantPath, body: StaffIn, _: Admin) -> StaffOut:
        with deps.tenant_session(tenant) as (session, _row):
            account = session.scalar(
                select(Account).where(Account.email == normalise_email(body.email))
            )
            if account is None:
                raise Problem(
                    422,
                    "No account uses this email address; the person must register first.",
                    slug="validation",
                    errors=[field_error("body.email", "no account with this address", "unknown")],
                )
            tenants.set_roles(session, tenant, account, body.roles)
            return StaffOut(
                account_id=account.id, email=account.email, roles=sorted(set(body.roles))
            )

    @api.delete(
        "/{tenant}/staff/{account_id}",
        status_code=204,
        summary="Remove every role of an account in the tenant",
        responses=problems(401, 403, 404, 422),
    )
    def delete_staff(tenant: TenantPath, account_id: IdPath, _: Admin) -> Response:
        with deps.tenant_session(tenant) as (session, _row):
            rows = session.scalars(
                select(StaffRole).where(StaffRole.account_id == account_id)
            ).all()
            if not rows:
                raise Problem(404, "This account has no role in the tenant.", slug="unknown-staff")
            for r in rows:
                session.delete(r)
        return Response(status_code=204)

    # --- partner apps and keys -----------------------------------------------------------

    def _app(session: Session, app_id: str) -> PartnerApp:
        app = session.scalar(select(PartnerApp).where(PartnerApp.id == app_id))
        if app is None:
            raise Problem(404, f"No partner app {app_id!r} in this tenant.", slug="unknown-app")
        return app

    @api.post(
        "/{tenant}/partner-apps",
        status_code=201,
        response_model=PartnerAppOut,
        summary="Register a partner app (admins)",
        responses=problems(401, 403, 404, 422),
    )
    def create_app(tenant: TenantPath, body: PartnerAppIn, _: Admin) -> PartnerAppOut:
        with deps.tenant_session(tenant) as (session, _row):
            app = partners.create_app(
                session,
                tenant=tenant,
                name=body.name,
                contact_email=body.contact_email,
                rate_limit_per_minute=body.rate_limit_per_minute,
            )
            return partners.app_out(app)

    @api.get(
        "/{tenant}/partner-apps",
        response_model=list[PartnerAppOut],
        summary="The tenant's partner apps (admins)",
        responses=problems(401, 403, 404, 422),
    )
    def list_apps(tenant: TenantPath, _: Admin) -> list[PartnerAppOut]:
        with deps.tenant_session(tenant) as (session, _row):
            rows = session.scalars(
                select(PartnerApp).order_by(PartnerApp.created_at, PartnerApp.id)
            )
            return [partners.app_out(a) for a in rows]

    @api.get(
        "/{tenant}/partner-apps/{app_id}",
        response_model=PartnerAppOut,
        summary="One partner app (admins)",
        responses=problems(401, 403, 404, 422),
    )
    def get_app(tenant: TenantPath, app_id: IdPath, _: Admin) -> PartnerAppOut:
        with deps.tenant_session(tenant) as (session, _row):
            return partners.app_out(_app(session, app_id))

    @api.post(
        "/{tenant}/partner-apps/{app_id}/keys",
        status_code=201,
        response_model=ApiKeyCreatedOut,
        summary="Issue an API key (shown once) with scopes and tenants",
        responses=problems(401, 403, 404, 422),
    )
    def create_key(
        tenant: TenantPath, app_id: IdPath, body: ApiKeyIn, principal: Admin
    ) -> ApiKeyCreatedOut:
        wanted = sorted(set(body.tenants or [tenant]))
        operator = isinstance(principal, UserPrincipal) and principal.operator
        refused = [
            t for t in wanted if not operator and not principal.can(t, Permission.TENANT_ADMIN)
        ]
        if refused:
            raise forbidden(f"Only an admin of {', '.join(refused)} may give a key access there.")
        with deps.tenant_session(tenant) as (session, _row):
            app = _app(session, app_id)
            missing = [t for t in wanted if t != tenant and not _tenant_exists(t)]
            if missing:
                raise Problem(
                    422,
                    f"Unknown tenants: {', '.join(missing)}.",
                    slug="validation",
                    errors=[field_error("body.tenants", "unknown tenant code", "unknown")],
                )
            return partners.create_key(
                session, app, scopes=body.scopes, tenants=wanted, label=body.label
            )

    def _tenant_exists(code: str) -> bool:
        with ctx.db.transaction() as session:
            scope_to_tenant(session, code)
            return session.get(Tenant, code) is not None

    @api.get(
        "/{tenant}/partner-apps/{app_id}/keys",
        response_model=list[ApiKeyOut],
        summary="The app's API keys (never the keys themselves)",
        responses=problems(401, 403, 404, 422),
    )
    def list_keys(tenant: TenantPath, app_id: IdPath, _: Admin) -> list[ApiKeyOut]:
        with deps.tenant_session(tenant) as (session, _row):
            app = _app(session, app_id)
            rows = session.scalars(
                select(ApiKey).where(ApiKey.app_id == app.id).order_by(ApiKey.created_at, ApiKey.id)
            )
            return [partners.key_out(k) for k in rows]

    @api.delete(
        "/{tenant}/partner-apps/{app_id}/keys/{key_id}",
        status_code=204,
        summary="Revoke an API key at once",
        responses=problems(401, 403, 404, 422),
    )
    def revoke_key(tenant: TenantPath, app_id: IdPath, key_id: IdPath, _: Admin) -> Response:
        with deps.tenant_session(tenant) as (session, _row):
            app = _app(session, app_id)
            key = session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.app_id == app.id))
            if key is None:
                raise Problem(404, f"No key {key_id!r} for this app.", slug="unknown-key")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
        return Response(status_code=204)

    return api
