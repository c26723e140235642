"""Tenants (collectivités) and the roles of their staff."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from citela_common.auth import Role
from citela_common.db import Database, utcnow
from citela_common.tenancy import scope_to_tenant
from citela_common.web import Problem, field_error
from citela_feedback.domain.rules import TenantRules
from citela_feedback.models import Account, StaffRole, Tenant
from citela_feedback.schemas import StaffOut, TenantOut, TenantPatch, TenantPublicOut

# Path segments of /v1/tenants/… that are not tenants (GET /v1/tenants/public).
RESERVED_CODES = frozenset({"public"})


def unknown_tenant(code: str) -> Problem:
    return Problem(404, f"No tenant {code!r} on this platform.", slug="unknown-tenant")


def get(session: Session, code: str) -> Tenant:
    """The tenant, in a session scoped to it (raises 404)."""
    scope_to_tenant(session, code)
    tenant = session.get(Tenant, code)
    if tenant is None:
        raise unknown_tenant(code)
    return tenant


@contextmanager
def scoped(db: Database, code: str) -> Iterator[tuple[Session, Tenant]]:
    """One unit of work scoped to a tenant that exists (404 otherwise)."""
    with db.transaction() as session:
        yield session, get(session, code)


def create(
    session: Session,
    *,
    code: str,
    name: str,
    siren: str,
    territory_codes: Iterable[str],
    rules: TenantRules | None = None,
) -> Tenant:
    if code in RESERVED_CODES:
        raise Problem(
            422,
            f"{code!r} is reserved by the API and cannot name a tenant.",
            slug="validation",
            errors=[field_error("body.code", "reserved word", "reserved")],
        )
    if session.get(Tenant, code) is not None:
        raise Problem(
            409,
            f"A tenant {code!r} already exists.",
            slug="tenant-exists",
            errors=[field_error("body.code", "already taken", "taken")],
        )
    now = utcnow()
    tenant = Tenant(
        tenant_id=code,
        name=name,
        siren=siren,
        territory_codes=sorted(set(territory_codes)),
        rules=(rules or TenantRules()).model_dump(mode="json"),
        created_at=now,
        updated_at=now,
    )
    session.add(tenant)
    session.flush()
    return tenant


def update(tenant: Tenant, patch: TenantPatch) -> Tenant:
    """Apply an admin's change: the fields given replace the tenant's, the rules given are
    merged into its rules (and checked as a whole)."""
    if patch.name is not None:
        tenant.name = patch.name
    if patch.territory_codes is not None:
        tenant.territory_codes = sorted(set(patch.territory_codes))
    if patch.rules is not None:
        merged = {**tenant.rules, **patch.rules.model_dump(exclude_none=True, mode="json")}
        tenant.rules = TenantRules.model_validate(merged).model_dump(mode="json")
    tenant.updated_at = utcnow()
    return tenant


def out(tenant: Tenant) -> TenantOut:
    return TenantOut(
        code=tenant.tenant_id,
        name=tenant.name,
        siren=tenant.siren,
        territory_codes=list(tenant.territory_codes),
        rules=TenantRules.model_validate(tenant.rules),
        created_at=tenant.created_at,
    )


def public_out(tenant: Tenant) -> TenantPublicOut:
    rules = TenantRules.model_validate(tenant.rules)
    return TenantPublicOut(
        code=tenant.tenant_id,
        name=tenant.name,
        territory_codes=list(tenant.territory_codes),
        comment_required=rules.comment_required,
        comment_max_length=rules.comment_max_length,
        public_averages=rules.public_averages,
    )


def set_roles(session: Session, tenant: str, account: Account, roles: Iterable[Role]) -> None:
    """Replace the account's roles in the tenant (the session is scoped to it)."""
    session.execute(delete(StaffRole).where(StaffRole.account_id == account.id))
    session.add_all(
        StaffRole(tenant_id=tenant, account_id=account.id, role=r.value, granted_at=utcnow())
        for r in sorted(set(roles))
    )
    session.flush()


def remove_staff(session: Session, account_id: str) -> None:
    """Remove every role of an account in the tenant (404 when it has none)."""
    rows = session.scalars(select(StaffRole).where(StaffRole.account_id == account_id)).all()
    if not rows:
        raise Problem(404, "This account has no role in the tenant.", slug="unknown-staff")
    for row in rows:
        session.delete(row)


def staff(session: Session) -> list[StaffOut]:
    rows = session.execute(
        select(StaffRole.account_id, StaffRole.role, Account.email)
        .join(Account, Account.id == StaffRole.account_id)
        .order_by(Account.email, StaffRole.role)
    ).all()
    by_account: dict[str, StaffOut] = {}
    for account_id, role, email in rows:
        entry = by_account.setdefault(
            account_id, StaffOut(account_id=account_id, email=email, roles=[])
        )
        entry.roles.append(Role(role))
    return list(by_account.values())
