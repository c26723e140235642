"""SQLAlchemy 2 plumbing: one schema per service, one unit of work per request or task.

PostgreSQL: each service owns a schema (``catalogue``, ``feedback``…). SQLite (embedded): each
schema is a separate file ATTACHed under the schema's name, so the same schema-qualified
tables and migrations run unchanged on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Integer,
    MetaData,
    create_engine,
    event,
    make_url,
    text,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def service_metadata(schema: str) -> MetaData:
    """The MetaData of one service's tables, in that service's schema."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on both dialects (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store UTC-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def _sqlite_schema_file(url: str, schema: str) -> str:
    database = make_url(url).database
    if not database or database == ":memory:":
        return ":memory:"
    main = Path(database)
    return str(main.with_name(f"{main.stem}.{schema}{main.suffix or '.db'}"))


def create_service_engine(url: str, schema: str, **kwargs: Any) -> Engine:
    """An engine on which ``schema``-qualified tables work, whatever the dialect."""
    if make_url(url).get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    attached = _sqlite_schema_file(url, schema)
    if attached == ":memory:":
        kwargs.setdefault("poolclass", StaticPool)
    else:
        Path(attached).parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite, so BEGIN is ours (see _on_begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"ATTACH DATABASE '{attached}' AS \"{schema}\"")
        if attached != ":memory:":
            cursor.execute(f'PRAGMA "{schema}".journal_mode=WAL')
            # In WAL mode NORMAL never corrupts the file; it only lets a power cut drop the
            # last commits, and spares an fsync per transaction (the projections commit often).
            cursor.execute(f'PRAGMA "{schema}".synchronous=NORMAL')
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: concurrent writers wait (busy_timeout)
        # instead of failing with "database is locked" when a read turns into a write.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """The engine and session factory of one service."""

    def __init__(self, url: str, schema: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.schema = schema
        self.engine = create_service_engine(url, schema, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed if the block succeeds, rolled back otherwise."""
        with self.sessions.begin() as session:
            yield session

    def ensure_schema(self) -> None:
        if not self.is_sqlite:
            with self.engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
