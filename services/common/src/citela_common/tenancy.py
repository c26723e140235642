"""Tenant scoping enforced by the session, not by each query.

A session scoped to a tenant (``scope_to_tenant``) adds ``tenant_id = :tenant`` to every ORM
SELECT, UPDATE and DELETE on a TenantScoped entity, stamps new rows with the tenant and
refuses to flush a row of another tenant. Forgetting a filter therefore cannot leak data.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, event
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    mapped_column,
    with_loader_criteria,
)

TENANT_KEY = "citela_tenant_id"


class TenantScoped:
    """Mixin of every table whose rows belong to one tenant."""

    tenant_id: Mapped[str] = mapped_column(String(64), index=True)


class CrossTenantWrite(PermissionError):
    pass


def scope_to_tenant(session: Session, tenant_id: str) -> Session:
    session.info[TENANT_KEY] = tenant_id
    return session


def current_tenant(session: Session) -> str | None:
    value = session.info.get(TENANT_KEY)
    return str(value) if value is not None else None


@event.listens_for(Session, "do_orm_execute")
def _scope_statements(state: ORMExecuteState) -> None:
    tenant = state.session.info.get(TENANT_KEY)
    if tenant is None or state.is_column_load or state.is_relationship_load:
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(
                TenantScoped,
                lambda cls: cls.tenant_id == tenant,
                include_aliases=True,
            )
        )


@event.listens_for(Session, "before_flush")
def _stamp_and_check(session: Session, _ctx: Any, _instances: Any) -> None:
    tenant = session.info.get(TENANT_KEY)
    if tenant is None:
        return
    for obj in [*session.new, *session.dirty]:
        if isinstance(obj, TenantScoped):
            if obj.tenant_id is None:
                obj.tenant_id = tenant
            elif obj.tenant_id != tenant:
                raise CrossTenantWrite(
                    f"{type(obj).__name__} of tenant {obj.tenant_id!r} in a session of {tenant!r}"
                )
