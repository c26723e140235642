"""Tenants, their staff and their partner apps: /v1/tenants…"""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import select

from citela_common.tenancy import scope_to_tenant
from citela_common.web.params import TenantCode
from citela_feedback import accounts, partners, tenants
from citela_feedback.api.deps import Admin, Context, IdPath, Operator, problems
from citela_feedback.models import Tenant
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

router = APIRouter(prefix="/v1/tenants", tags=["collectivités"])


@router.post(
    "",
    status_code=201,
    response_model=TenantOut,
    summary="Create a tenant (platform operators)",
    responses=problems(401, 403, 409, 422),
)
def create_tenant(body: TenantIn, _: Operator, ctx: Context) -> TenantOut:
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


@router.get(
    "",
    response_model=list[TenantOut],
    summary="Every tenant (platform operators)",
    responses=problems(401, 403),
)
def list_tenants(_: Operator, ctx: Context) -> list[TenantOut]:
    with ctx.db.transaction() as session:
        rows = session.scalars(select(Tenant).order_by(Tenant.tenant_id)).all()
        return [tenants.out(t) for t in rows]


@router.get(
    "/public",
    response_model=list[TenantPublicOut],
    summary="What the public may know of every tenant, by name (the portal's directory)",
)
def list_public_tenants(ctx: Context) -> list[TenantPublicOut]:
    with ctx.db.transaction() as session:
        rows = session.scalars(select(Tenant).order_by(Tenant.name, Tenant.tenant_id)).all()
        return [tenants.public_out(t) for t in rows]


@router.get(
    "/{tenant}",
    response_model=TenantPublicOut,
    summary="What the public may know of a tenant (name, territory, comment rules)",
    responses=problems(404, 422),
)
def get_tenant(tenant: TenantCode, ctx: Context) -> TenantPublicOut:
    with tenants.scoped(ctx.db, tenant) as (_session, row):
        return tenants.public_out(row)


@router.get(
    "/{tenant}/settings",
    response_model=TenantOut,
    summary="The tenant's settings (admins)",
    responses=problems(401, 403, 404, 422),
)
def get_settings(tenant: TenantCode, _: Admin, ctx: Context) -> TenantOut:
    with tenants.scoped(ctx.db, tenant) as (_session, row):
        return tenants.out(row)


@router.patch(
    "/{tenant}/settings",
    response_model=TenantOut,
    summary="Change the tenant's name, territory or rules (admins)",
    responses=problems(401, 403, 404, 422),
)
def patch_settings(tenant: TenantCode, body: TenantPatch, _: Admin, ctx: Context) -> TenantOut:
    with tenants.scoped(ctx.db, tenant) as (_session, row):
        return tenants.out(tenants.update(row, body))


# --- staff ---------------------------------------------------------------------------------


@router.get(
    "/{tenant}/staff",
    response_model=list[StaffOut],
    summary="Staff of the tenant and their roles (admins)",
    responses=problems(401, 403, 404, 422),
)
def list_staff(tenant: TenantCode, _: Admin, ctx: Context) -> list[StaffOut]:
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        return tenants.staff(session)


@router.put(
    "/{tenant}/staff",
    response_model=StaffOut,
    summary="Give an account its roles in the tenant (replaces its roles there)",
    responses=problems(401, 403, 404, 422),
)
def put_staff(tenant: TenantCode, body: StaffIn, _: Admin, ctx: Context) -> StaffOut:
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        return accounts.assign_staff(session, tenant, body.email, body.roles)


@router.delete(
    "/{tenant}/staff/{account_id}",
    status_code=204,
    summary="Remove every role of an account in the tenant",
    responses=problems(401, 403, 404, 422),
)
def delete_staff(tenant: TenantCode, account_id: IdPath, _: Admin, ctx: Context) -> Response:
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        tenants.remove_staff(session, account_id)
    return Response(status_code=204)


# --- partner apps and keys -----------------------------------------------------------------


@router.post(
    "/{tenant}/partner-apps",
    status_code=201,
    response_model=PartnerAppOut,
    summary="Register a partner app (admins)",
    responses=problems(401, 403, 404, 422),
)
def create_app(tenant: TenantCode, body: PartnerAppIn, _: Admin, ctx: Context) -> PartnerAppOut:
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        app = partners.create_app(
            session,
            tenant=tenant,
            name=body.name,
            contact_email=body.contact_email,
            rate_limit_per_minute=body.rate_limit_per_minute,
        )
        return partners.app_out(app)


@router.get(
    "/{tenant}/partner-apps",
    response_model=list[PartnerAppOut],
    summary="The tenant's partner apps (admins)",
    responses=problems(401, 403, 404, 422),
)
def list_apps(tenant: TenantCode, _: Admin, ctx: Context) -> list[PartnerAppOut]:
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        return partners.apps(session)


@router.get(
    "/{tenant}/partner-apps/{app_id}",
    response_model=PartnerAppOut,
    summary="One partner app (admins)",
    responses=problems(401, 403, 404, 422),
)
def get_app(tenant: TenantCode, app_id: IdPath, _: Admin, ctx: Context) -> PartnerAppOut:
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        return partners.app_out(partners.get_app(session, app_id))


@router.post(
    "/{tenant}/partner-apps/{app_id}/keys",
    status_code=201,
    response_model=ApiKeyCreatedOut,
    summary="Issue an API key (shown once) with scopes and tenants",
    responses=problems(401, 403, 404, 422),
)
def create_key(
    tenant: TenantCode, app_id: IdPath, body: ApiKeyIn, principal: Admin, ctx: Context
) -> ApiKeyCreatedOut:
    wanted = partners.key_tenants(principal, tenant, body.tenants)
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        return partners.issue_key(
            ctx.db,
            session,
            tenant,
            app_id,
            scopes=body.scopes,
            tenants=wanted,
            label=body.label,
        )


@router.get(
    "/{tenant}/partner-apps/{app_id}/keys",
    response_model=list[ApiKeyOut],
    summary="The app's API keys (never the keys themselves)",
    responses=problems(401, 403, 404, 422),
)
def list_keys(tenant: TenantCode, app_id: IdPath, _: Admin, ctx: Context) -> list[ApiKeyOut]:
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        return partners.keys(session, app_id)


@router.delete(
    "/{tenant}/partner-apps/{app_id}/keys/{key_id}",
    status_code=204,
    summary="Revoke an API key at once",
    responses=problems(401, 403, 404, 422),
)
def revoke_key(
    tenant: TenantCode, app_id: IdPath, key_id: IdPath, _: Admin, ctx: Context
) -> Response:
    with tenants.scoped(ctx.db, tenant) as (session, _row):
        partners.revoke_key(session, app_id, key_id)
    return Response(status_code=204)
