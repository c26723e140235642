"""SQLAlchemy 2 plumbing: one schema per service, one unit of work per request or task.

PostgreSQL: each service owns a schema (``catalogue``, ``feedback``…). SQLite (embedded): each
schema is a separate file ATTACHed under the schema's name, so the same schema-qualified
tables and migrations run unchanged on both.

Units of work: ``Database.transaction()`` may write; ``Database.read()`` only reads. On SQLite
the difference matters: a writer takes its file's write lock up front (``BEGIN IMMEDIATE``),
a reader does not lock at all (WAL, deferred ``BEGIN``), so reads run beside a writer and each
service's file has a writer of its own.
"""

from __future__ import annotations

import threading
import time
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
    exc,
    make_url,
    text,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool, StaticPool
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


# Execution option marking a connection whose transactions only read (Database.read()).
READ_ONLY = "citela_read_only"
# SQLite writers of one process queue on a lock per file; as long as SQLite's busy_timeout.
WRITE_LOCK_TIMEOUT_S = 30.0
_HELD = "citela_write_lock"
_writer_locks: dict[str, threading.Lock] = {}
_writer_locks_guard = threading.Lock()


def _writer_lock(path: str) -> threading.Lock:
    key = str(Path(path).resolve())
    with _writer_locks_guard:
        return _writer_locks.setdefault(key, threading.Lock())


def _release(info: dict[str, Any]) -> None:
    lock = info.pop(_HELD, None)
    if lock is not None:
        lock.release()


# A connection attempt to PostgreSQL gives up after this (libpq waits forever by default:
# a server that drops packets would hold a request, and its pool slot, for minutes).
CONNECT_TIMEOUT_S = 5
# The readiness probe's own connection: a dead server is told within this.
PROBE_CONNECT_TIMEOUT_S = 2
PROBE_STATEMENT_TIMEOUT_MS = 1000

# A pooled PostgreSQL connection idle longer than this is pinged before use (a restarted
# server drops them); a busy pool skips the round trip the ping costs on every checkout.
PING_AFTER_IDLE_S = 10.0


def create_service_engine(url: str, schema: str, **kwargs: Any) -> Engine:
    """An engine on which ``schema``-qualified tables work, whatever the dialect."""
    if make_url(url).get_backend_name() != "sqlite":
        return _postgresql_engine(url, **kwargs)

    attached = _sqlite_schema_file(url, schema)
    if attached == ":memory:":
        kwargs.setdefault("poolclass", StaticPool)
    else:
        Path(attached).parent.mkdir(parents=True, exist_ok=True)
        # The main database of each connection is a private in-memory one: the service's file,
        # attached, is the only one its transactions lock, so services never wait for each
        # other's writes (BEGIN IMMEDIATE locks every database of the connection).
        url = "sqlite://"
        kwargs.setdefault("poolclass", QueuePool)
        kwargs.setdefault("pool_size", 8)
        kwargs.setdefault("max_overflow", 32)
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
        read_only = bool(conn.get_execution_options().get(READ_ONLY))
        # query_only makes a write in a read unit of work fail at once, not at random: a
        # deferred transaction that turns into a writer fails with "database is locked"
        # whenever another writer committed since it began.
        if conn.info.get("query_only", False) is not read_only:
            conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
            conn.info["query_only"] = read_only
        if read_only or attached == ":memory:":  # memory: one connection, shared
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
            return
        # A writer takes the write lock up front: concurrent writers wait instead of failing
        # when a read turns into a write. The writers of this process queue on a lock of
        # their own first: SQLite's busy handler polls with sleeps of up to 100 ms, so under
        # contention a waiting writer slept past the release (the embedded p99 of seconds).
        lock = _writer_lock(attached)
        if not lock.acquire(timeout=WRITE_LOCK_TIMEOUT_S):
            raise exc.OperationalError("BEGIN IMMEDIATE", None, TimeoutError("database is locked"))
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            lock.release()
            raise
        conn.info[_HELD] = lock

    # The write transaction ends in the commit/rollback events (which fire before SQLAlchemy
    # asks the driver, whose own call then finds no transaction): the lock is released once
    # the file's lock is, not when the connection goes back to the pool.
    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        if _HELD in conn.info:
            try:
                conn.connection.dbapi_connection.execute("COMMIT")
            finally:
                _release(conn.info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Any) -> None:
        if _HELD in conn.info:
            try:
                conn.connection.dbapi_connection.rollback()
            finally:
                _release(conn.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        _release(record.info)  # a connection invalidated mid-transaction (already rolled back)

    return engine


def _postgresql_engine(url: str, **kwargs: Any) -> Engine:
    # Enough connections for the request threads of one worker process: a pool smaller than
    # the concurrency closes its overflow connections on return and opens new ones at once.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    engine = create_engine(url, **kwargs)
    if kwargs["pool_pre_ping"]:
        return engine

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_conn.rollback()
        except Exception as error:
            # The pool discards this connection and checks out another.
            raise exc.DisconnectionError(repr(error)) from error

    return engine


class Database:
    """The engine and session factory of one service."""

    def __init__(self, url: str, schema: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.schema = schema
        self.engine = create_service_engine(url, schema, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Same pool; its transactions are marked read-only (see create_service_engine).
        self.read_engine = self.engine.execution_options(**{READ_ONLY: True})
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self._probe_engine: Engine | None = None
        self._probe_lock = threading.Lock()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed if the block succeeds, rolled back otherwise."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A unit of work that only reads: on SQLite it locks nothing and runs beside writers.

        Writing in it fails (SQLite: "attempt to write a readonly database"). Commit events
        of ``transaction()`` sessions (the outbox relay's wake-up) do not fire for it.
        """
        with self.read_sessions.begin() as session:
            yield session

    def ensure_schema(self) -> None:
        if not self.is_sqlite:
            with self.engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))

    def ping(self) -> bool:
        try:
            self.probe()
            return True
        except Exception:
            return False

    def probe(self) -> None:
        """``SELECT 1`` on a connection of its own, outside the service's pool (a pool
        exhausted by waiting requests must not look like a dead server, nor the probe wait
        for a slot), with short timeouts; raises when the server does not answer."""
        if self.is_sqlite:
            with self.read_engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        with self._probe_lock:
            if self._probe_engine is None:
                self._probe_engine = create_engine(
                    self.url,
                    pool_size=1,
                    max_overflow=0,
                    pool_timeout=PROBE_CONNECT_TIMEOUT_S,
                    pool_pre_ping=True,  # a restarted server: reconnect rather than fail once
                    connect_args={
                        "connect_timeout": PROBE_CONNECT_TIMEOUT_S,
                        "options": f"-c statement_timeout={PROBE_STATEMENT_TIMEOUT_MS}",
                        "application_name": f"citela-{self.schema}-readiness",
                    },
                )
            engine = self._probe_engine
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        if self._probe_engine is not None:
            self._probe_engine.dispose()
