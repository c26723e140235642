"""SQL text for PostgreSQL's many-rows-in-one-parameter inserts (as citela_common.bulk)."""

from __future__ import annotations

from typing import Any

import pydantic_core
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.sqltypes import JSON

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _type(table: Table, key: str) -> str:
    if isinstance(table.c[key].type, JSON):
        return "JSON"
    return str(table.c[key].type.compile(dialect=_PG))


def insert_from_json(table: Table, keys: tuple[str, ...], param: str) -> str:
    """``INSERT INTO <table> AS t (<keys>) SELECT … FROM json_to_recordset(:<param>)``: the
    rows are one JSON array parameter, decoded by the server (identifiers from the metadata)."""
    columns = ", ".join(f'"{k}"' for k in keys)
    record = ", ".join(f'"{k}" {_type(table, k)}' for k in keys)
    values = ", ".join(f'u."{k}"' for k in keys)
    return (
        f'INSERT INTO "{table.schema}"."{table.name}" AS t ({columns})'  # noqa: S608
        f" SELECT {values} FROM json_to_recordset(CAST(:{param} AS JSON)) AS u({record})"
    )


def json_text(rows: Any) -> str:
    """Rows as the JSON text of one parameter: pydantic-core's serializer (Rust; datetimes in
    ISO 8601, UTC as ``Z``), ten times faster than ``json.dumps`` with a ``default`` for the
    datetimes of a thousand rows."""
    return pydantic_core.to_json(rows).decode()
