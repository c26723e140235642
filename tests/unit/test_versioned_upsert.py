"""bulk.versioned_upsert, the one write of the versioned projections (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, Integer, String, Table, select, text

from citela_common import bulk
from citela_common.db import Database, UTCDateTime, service_metadata

SCHEMA = "versioned_test"
METADATA = service_metadata(SCHEMA)
ROWS = Table(
    "entries",
    METADATA,
    Column("tenant_id", String(64), primary_key=True),
    Column("entry_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("removed_at", UTCDateTime(), nullable=True),
)
KEYS = ("tenant_id", "entry_id")
REMOVED = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Database]:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = Database(url, SCHEMA)
    if not database.is_sqlite:
        with database.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    database.ensure_schema()
    METADATA.create_all(database.engine)
    yield database
    database.dispose()


def row(entry_id: str, version: int, title: str) -> dict[str, Any]:
    return {
        "tenant_id": "agglo-pau",
        "entry_id": entry_id,
        "version": version,
        "title": title,
        "removed_at": None,
    }


def stored(db: Database) -> dict[str, tuple[int, str, datetime | None]]:
    with db.transaction() as session:
        rows = session.execute(
            select(ROWS.c.entry_id, ROWS.c.version, ROWS.c.title, ROWS.c.removed_at)
        )
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_an_older_version_never_overwrites_a_newer_one(db: Database) -> None:
    with db.transaction() as session:
        written = bulk.versioned_upsert(
            session,
            ROWS,
            KEYS,
            [row("mairie", 2, "Mairie"), row("piscine", 1, "Piscine")],
            returning=("entry_id",),
        )
    assert sorted(r[0] for r in written) == ["mairie", "piscine"]
    with db.transaction() as session:
        written = bulk.versioned_upsert(
            session,
            ROWS,
            KEYS,
            [row("mairie", 1, "Ancienne mairie"), row("piscine", 3, "Piscine d'Arudy")],
            removals=[
                {
                    "tenant_id": "agglo-pau",
                    "entry_id": "mairie",
                    "version": 2,
                    "removed_at": REMOVED,
                },
                {
                    "tenant_id": "agglo-pau",
                    "entry_id": "jamais-vue",
                    "version": 9,
                    "removed_at": REMOVED,
                },
            ],
            returning=("entry_id",),
        )
        assert [r[0] for r in written] == ["piscine"], "only the newer version is written"
    assert stored(db) == {"mairie": (2, "Mairie", None), "piscine": (3, "Piscine d'Arudy", None)}
    with db.transaction() as session:
        versions = bulk.stored_versions(
            session, ROWS, KEYS, [("agglo-pau", "mairie"), ("agglo-pau", "jamais-vue")]
        )
        assert versions == {("agglo-pau", "mairie"): 2}
        bulk.versioned_upsert(
            session,
            ROWS,
            KEYS,
            [],
            removals=[
                {
                    "tenant_id": "agglo-pau",
                    "entry_id": "mairie",
                    "version": 4,
                    "removed_at": REMOVED,
                }
            ],
        )
    assert stored(db)["mairie"] == (4, "Mairie", REMOVED)
