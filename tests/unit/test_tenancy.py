"""Tenant scoping is enforced by the session: a forgotten filter cannot leak another's rows."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from citela_common.tenancy import CrossTenantWrite, scope_to_tenant
from tests.contract.stack import Note, fresh_database


def test_scoped_sessions_only_see_and_change_their_tenant(sqlite_url: str) -> None:
    db = fresh_database(sqlite_url)
    with db.transaction() as s:
        s.add_all(
            [
                Note(tenant_id="agglo-pau", text="Médiathèque André-Labarrère"),
                Note(tenant_id="ville-lyon", text="Mairie du 3e arrondissement"),
            ]
        )
    with db.transaction() as s:
        scope_to_tenant(s, "agglo-pau")
        assert [n.text for n in s.scalars(select(Note))] == ["Médiathèque André-Labarrère"]
        s.execute(update(Note).values(text="modifié"))
        s.execute(delete(Note).where(Note.text == "Mairie du 3e arrondissement"))
        s.add(Note(text="nouvelle"))  # stamped with the session's tenant
    with db.transaction() as s:
        rows = sorted((n.tenant_id, n.text) for n in s.scalars(select(Note)))
    assert rows == [
        ("agglo-pau", "modifié"),
        ("agglo-pau", "nouvelle"),
        ("ville-lyon", "Mairie du 3e arrondissement"),
    ]


def test_writing_another_tenants_row_is_refused(sqlite_url: str) -> None:
    db = fresh_database(sqlite_url)
    with pytest.raises(CrossTenantWrite), db.transaction() as s:
        scope_to_tenant(s, "agglo-pau")
        s.add(Note(tenant_id="ville-lyon", text="intrus"))
    with db.transaction() as s:
        assert s.scalars(select(Note)).all() == []
