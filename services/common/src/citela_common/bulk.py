"""Many rows in one statement: the consumers' bulk inserts and upserts, on both dialects.

PostgreSQL: ``INSERT … SELECT … FROM json_to_recordset(:rows)``, the rows sent as one JSON
parameter (encoded by the json module in C, decoded by the server in C), so a batch of 500
rows is one statement, one round trip and one plan, instead of 500 executions (even
pipelined, each costs the server a parse/bind/execute, and psycopg dumps each value). SQLite: an
``executemany`` of the equivalent ``INSERT … ON CONFLICT`` (in-process, nothing to gain).

The conflict clause is the same on both: overwrite some columns from the new row, add to
others (running sums), and optionally only when the stored version is older:
``versioned_upsert`` is that write for every projection keeping rows by version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    TextClause,
    TextualSelect,
    any_,
    bindparam,
    delete,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.sqltypes import JSON

from citela_common.events import entry_batches
from citela_common.events.entry_batches import EntryChange, EntryEvent, EntryKey

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]
ENTRY_KEYS = ("tenant_id", "entry_id")


@dataclass(frozen=True)
class OnConflict:
    """What happens when a row's ``keys`` exist: nothing, or these columns change."""

    keys: tuple[str, ...]
    overwrite: tuple[str, ...] = ()  # stored := new
    add: tuple[str, ...] = ()  # stored := stored + new
    newer: str | None = None  # only if stored.<newer> < new.<newer> (a version)


def write(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    on_conflict: OnConflict | None = None,
    returning: tuple[str, ...] = (),
    pg_computed: Mapping[str, str] | None = None,
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (all with the same keys) in one statement; the ``returning`` columns
    of the rows inserted or changed.

    ``pg_computed``: on PostgreSQL, columns computed in SQL from the row's values (``u.<key>``,
    keys that are not columns are passed as text), e.g. a tsvector; ignored on SQLite.
    """
    if not rows:
        return []
    keys = tuple(rows[0])
    if session.get_bind().dialect.name == "postgresql":
        computed = tuple(sorted((pg_computed or {}).items()))
        stmt = _pg_statement(table, keys, on_conflict, returning, computed)
        payload = json.dumps(rows, ensure_ascii=False, separators=(",", ":"), default=_json_value)
        result = session.execute(stmt, {"rows": payload})
    else:
        columns = [k for k in keys if k in table.c]
        result = session.execute(
            _sqlite_statement(table, on_conflict, returning),
            [{k: row[k] for k in columns} for row in rows],
        )
    return [tuple(row) for row in result] if returning else []


def _json_value(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()  # with its offset: datetimes are UTC-aware here
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _pg_type(table: Table, key: str) -> str:
    if key not in table.c:
        return "TEXT"
    if isinstance(table.c[key].type, JSON):
        return "JSON"
    return str(table.c[key].type.compile(dialect=_PG))


@lru_cache(maxsize=256)
def _pg_statement(
    table: Table,
    keys: tuple[str, ...],
    on_conflict: OnConflict | None,
    returning: tuple[str, ...],
    computed: tuple[tuple[str, str], ...],
) -> TextClause:
    q = _quote
    columns = [k for k in keys if k in table.c]
    record = ", ".join(f"{q(k)} {_pg_type(table, k)}" for k in keys)
    values = [f"u.{q(k)}" for k in columns]
    target = [*columns, *(name for name, _ in computed)]
    # Identifiers come from the table's metadata, values only from bound parameters.
    sql = (
        f"INSERT INTO {_name(table)} AS t ({', '.join(map(q, target))})"  # noqa: S608
        f" SELECT {', '.join([*values, *(expr for _, expr in computed)])}"
        f" FROM json_to_recordset(CAST(:rows AS JSON)) AS u({record})"
    )
    if on_conflict is not None:
        sql += f" ON CONFLICT ({', '.join(map(q, on_conflict.keys))})"
        changes = [
            *(f"{q(c)} = EXCLUDED.{q(c)}" for c in on_conflict.overwrite),
            *(f"{q(c)} = t.{q(c)} + EXCLUDED.{q(c)}" for c in on_conflict.add),
            *(f"{q(name)} = EXCLUDED.{q(name)}" for name, _ in computed),
        ]
        if changes:
            sql += f" DO UPDATE SET {', '.join(changes)}"
            if on_conflict.newer:
                newer = q(on_conflict.newer)
                sql += f" WHERE t.{newer} < EXCLUDED.{newer}"
        else:
            sql += " DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(f't.{q(c)}' for c in returning)}"
    return text(sql)


def _quote(name: str) -> str:
    return f'"{name}"'


def _name(table: Table) -> str:
    return f"{_quote(table.schema)}.{_quote(table.name)}" if table.schema else _quote(table.name)


@lru_cache(maxsize=256)
def _sqlite_statement(
    table: Table, on_conflict: OnConflict | None, returning: tuple[str, ...]
) -> Any:
    stmt: Any = sqlite.insert(table)
    if on_conflict is not None:
        excluded = stmt.excluded
        changes = {
            **{c: excluded[c] for c in on_conflict.overwrite},
            **{c: table.c[c] + excluded[c] for c in on_conflict.add},
        }
        if changes:
            newer = on_conflict.newer
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c[k] for k in on_conflict.keys],
                set_=changes,
                where=(table.c[newer] < excluded[newer]) if newer else None,
            )
        else:
            keys = [table.c[k] for k in on_conflict.keys]
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    if returning:
        stmt = stmt.returning(*(table.c[c] for c in returning))
    return stmt


def stored_versions(
    session: Session,
    table: Table,
    keys: tuple[str, ...],
    wanted: Sequence[tuple[Any, ...]],
    version: str = "version",
) -> dict[tuple[Any, ...], int]:
    """The stored ``version`` of each of the ``wanted`` keys that has a row."""
    rows = rows_by_keys(session, table, keys, wanted, (*keys, version))
    return {tuple(row[: len(keys)]): row[len(keys)] for row in rows}


def versioned_upsert(
    session: Session,
    table: Table,
    keys: tuple[str, ...],
    rows: Sequence[Mapping[str, Any]],
    *,
    removals: Sequence[Mapping[str, Any]] = (),
    version: str = "version",
    returning: tuple[str, ...] = (),
    pg_computed: Mapping[str, str] | None = None,
) -> list[tuple[Any, ...]]:
    """The versioned write of a projection: an older version never overwrites a newer one.

    ``rows`` (whole rows) are inserted, or overwrite a stored row whose ``version`` is older;
    ``removals`` (the keys, the version and the columns a removal sets, e.g. ``removed_at``)
    change a stored row whose version is older, and nothing where there is none. The guard is
    in the statements, so a concurrent writer cannot make an older version win either.
    Returns the ``returning`` columns of the rows inserted or overwritten.
    """
    written: list[tuple[Any, ...]] = []
    if rows:
        overwrite = tuple(c for c in rows[0] if c in table.c and c not in keys)
        written = write(
            session,
            table,
            rows,
            on_conflict=OnConflict(keys, overwrite=overwrite, newer=version),
            returning=returning,
            pg_computed=pg_computed,
        )
    if removals:
        changed = [c for c in removals[0] if c not in keys]
        statement = (
            update(table)
            .where(
                *(table.c[k] == bindparam(f"k_{k}") for k in keys),
                table.c[version] < bindparam(f"v_{version}"),
            )
            .values({c: bindparam(f"v_{c}", type_=table.c[c].type) for c in changed})
        )
        session.execute(
            statement,
            [
                {**{f"k_{k}": r[k] for k in keys}, **{f"v_{c}": r[c] for c in changed}}
                for r in removals
            ],
        )
    return written


def upsert_entries(
    session: Session,
    table: Table,
    items: Sequence[tuple[str, EntryEvent]],
    row: Callable[[str, EntryChange], dict[str, Any]],
    *,
    removed: Mapping[str, Any] | None = None,
    returning: tuple[str, ...] = (),
    pg_computed: Mapping[str, str] | None = None,
) -> tuple[dict[EntryKey, EntryChange], list[tuple[Any, ...]]]:
    """Apply catalogue entry events (``(tenant, data)``, in order) to a projection's ``table``
    of entries (keys ``tenant_id, entry_id``, a ``version`` and a ``removed_at``): the net
    change per entry (``entry_batches.fold`` over the stored versions), written with
    ``versioned_upsert``. ``row`` makes the whole row of an upsert; ``removed``: other columns
    a removal sets. Returns the changes and the ``returning`` columns of the rows written."""
    if not items:
        return {}, []
    wanted = sorted({(tenant, data.entry_id) for tenant, data in items})
    pending = entry_batches.fold(items, stored_versions(session, table, ENTRY_KEYS, wanted))
    changes = sorted(pending.items())
    written = versioned_upsert(
        session,
        table,
        ENTRY_KEYS,
        [row(tenant, p) for (tenant, _), p in changes if p.upsert is not None],
        removals=[
            {
                "tenant_id": tenant,
                "entry_id": entry_id,
                "version": p.version,
                "removed_at": p.removed_at,
                **(removed or {}),
            }
            for (tenant, entry_id), p in changes
            if p.upsert is None
        ],
        returning=returning,
        pg_computed=pg_computed,
    )
    return pending, written


def among(
    session: Session, column: ColumnElement[Any], values: Sequence[Any]
) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``= ANY(:array)``: one parameter, one query text."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def delete_keys(
    session: Session,
    table: Table,
    keys: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    *,
    pg_condition: str = "",
    condition: ColumnElement[bool] | None = None,
) -> None:
    """Delete the rows whose ``keys`` columns equal one of ``rows`` (and the condition:
    ``pg_condition`` in SQL on ``t.<column>``, ``condition`` the same as an expression)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        payload = json.dumps(
            [dict(zip(keys, row, strict=True)) for row in rows], default=_json_value
        )
        session.execute(_pg_delete(table, keys, pg_condition), {"rows": payload})
        return
    where = tuple_(*(table.c[k] for k in keys)).in_(list(rows))
    session.execute(delete(table).where(where if condition is None else where & condition))


@lru_cache(maxsize=64)
def _pg_delete(table: Table, keys: tuple[str, ...], condition: str) -> TextClause:
    q = _quote
    record = ", ".join(f"{q(k)} {_pg_type(table, k)}" for k in keys)
    matches = " AND ".join(f"t.{q(k)} = k.{q(k)}" for k in keys)
    sql = (
        f"DELETE FROM {_name(table)} AS t"  # noqa: S608  # identifiers from the metadata
        f" USING json_to_recordset(CAST(:rows AS JSON)) AS k({record}) WHERE {matches}"
    )
    return text(sql + (f" AND {condition}" if condition else ""))


def rows_by_keys(
    session: Session,
    table: Table,
    keys: tuple[str, ...],
    wanted: Sequence[tuple[Any, ...]],
    columns: tuple[str, ...],
) -> list[Any]:
    """The ``columns`` of the rows whose ``keys`` columns equal one of ``wanted``.

    PostgreSQL: a join with the keys unnested from one array per key column, so that each
    wanted key is one probe of the primary key. (``tenant IN (…) AND id = ANY(:ids)`` went
    through the tenants' index and, once psycopg prepared it with a generic plan, compared
    every row of those tenants with the whole array: 50 ms per batch of 500 at 7,000 rows.)
    """
    if not wanted:
        return []
    if session.get_bind().dialect.name == "postgresql":
        params = {f"k{i}": [row[i] for row in wanted] for i in range(len(keys))}
        return list(session.execute(_pg_by_keys(table, keys, columns), params))
    stmt = select(*(table.c[c] for c in columns)).where(
        tuple_(*(table.c[k] for k in keys)).in_(list(wanted))
    )
    return list(session.execute(stmt))


@lru_cache(maxsize=64)
def _pg_by_keys(table: Table, keys: tuple[str, ...], columns: tuple[str, ...]) -> TextualSelect:
    q = _quote
    arrays = ", ".join(f"CAST(:k{i} AS {_pg_type(table, k)}[])" for i, k in enumerate(keys))
    names = ", ".join(q(k) for k in keys)
    matches = " AND ".join(f"t.{q(k)} = k.{q(k)}" for k in keys)
    sql = (
        f"SELECT {', '.join(f't.{q(c)}' for c in columns)}"  # noqa: S608  # from the metadata
        f" FROM unnest({arrays}) AS k({names}) JOIN {_name(table)} AS t ON {matches}"
    )
    # Typed columns: the result goes through the columns' types as a Core select's would.
    return text(sql).columns(*(table.c[c] for c in columns))
