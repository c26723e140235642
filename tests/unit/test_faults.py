"""citela_common.faults.is_transient on the real exceptions our dependencies raise.

Transient: an outage (a database refusing connections or dropping one, SQLite locked by a
writer, Redis or Kafka out of reach), retried without limit by the consumers. Deterministic:
what the work itself causes (a missing table, a constraint, a bad event), dead-lettered.
"""

from __future__ import annotations

import socket
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from pydantic import BaseModel, ValidationError
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from citela_common.bus.kafka import KafkaBus
from citela_common.events.envelope import EnvelopeError, from_binary
from citela_common.faults import PublishError, is_transient

NO_RETRY = Retry(NoBackoff(), 0)  # the client's own retries only slow the test down


def closed_port() -> int:
    """A local port nothing listens on: connections to it are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raised(call: object) -> BaseException:
    assert callable(call)
    try:
        call()
    except BaseException as exc:
        return exc
    raise AssertionError("expected an exception")


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = create_engine(pg_url)
    yield engine
    engine.dispose()


def test_a_database_refusing_connections_is_transient() -> None:
    engine = create_engine(
        f"postgresql+psycopg://citela:citela@127.0.0.1:{closed_port()}/citela",
        connect_args={"connect_timeout": 2},
    )
    exc = raised(lambda: engine.connect())
    assert isinstance(exc, OperationalError)
    assert is_transient(exc)
    engine.dispose()


def test_a_raw_psycopg_connection_refused_is_transient() -> None:
    # The outbox and the harvester COPY through the driver's own connection: its errors
    # come unwrapped by SQLAlchemy.
    exc = raised(lambda: psycopg.connect(host="127.0.0.1", port=closed_port(), connect_timeout=2))
    assert isinstance(exc, psycopg.OperationalError)
    assert is_transient(exc)


def test_a_connection_the_server_terminated_is_transient(pg_engine: Engine) -> None:
    # What a PostgreSQL restart does to the open connections of a pool.
    with pg_engine.connect() as victim, pg_engine.connect() as admin:
        pid = victim.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        exc = raised(lambda: victim.execute(text("SELECT 1")))
    assert isinstance(exc, OperationalError)
    assert is_transient(exc)


def test_a_raw_connection_the_server_terminated_is_transient(pg_engine: Engine) -> None:
    with pg_engine.connect() as victim, pg_engine.connect() as admin:
        pid = victim.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        dbapi = victim.connection.dbapi_connection
        assert isinstance(dbapi, psycopg.Connection)
        exc = raised(lambda: dbapi.execute("SELECT 1"))
        victim.invalidate()
    assert isinstance(exc, psycopg.OperationalError)
    assert is_transient(exc)


def test_a_unique_violation_is_not_transient(pg_engine: Engine) -> None:
    table = f"faults_{uuid.uuid4().hex[:8]}"
    with pg_engine.begin() as conn:
        conn.execute(text(f"CREATE TEMP TABLE {table} (id int PRIMARY KEY)"))
        conn.execute(text(f"INSERT INTO {table} VALUES (1)"))
        exc = raised(lambda: conn.execute(text(f"INSERT INTO {table} VALUES (1)")))
    assert isinstance(exc, IntegrityError)
    assert not is_transient(exc)


def test_a_missing_relation_on_postgresql_is_not_transient(pg_engine: Engine) -> None:
    with pg_engine.connect() as conn:
        exc = raised(lambda: conn.execute(text("SELECT * FROM table_qui_n_existe_pas")))
    assert not is_transient(exc)


def test_sqlite_no_such_table_is_not_transient(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'citela.db'}")
    with engine.connect() as conn:
        exc = raised(lambda: conn.execute(text("SELECT * FROM avis")))
    assert isinstance(exc, OperationalError)
    assert "no such table" in str(exc)
    assert not is_transient(exc)
    engine.dispose()


def test_sqlite_integrity_error_is_not_transient(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'citela.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE avis (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO avis VALUES (1)"))
        exc = raised(lambda: conn.execute(text("INSERT INTO avis VALUES (1)")))
    assert isinstance(exc, IntegrityError)
    assert not is_transient(exc)
    engine.dispose()


def test_sqlite_locked_by_another_writer_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "citela.db"
    holder = sqlite3.connect(path, check_same_thread=False)
    holder.execute("CREATE TABLE avis (id INTEGER)")
    holder.commit()
    holder.execute("BEGIN EXCLUSIVE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        with engine.connect() as conn:
            exc = raised(lambda: conn.execute(text("INSERT INTO avis VALUES (1)")))
        assert isinstance(exc, OperationalError)
        assert "locked" in str(exc)
        assert is_transient(exc)
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()


def test_redis_out_of_reach_is_transient() -> None:
    client = redis.Redis(host="127.0.0.1", port=closed_port(), retry=NO_RETRY)
    exc = raised(client.ping)
    assert isinstance(exc, redis.exceptions.ConnectionError)
    assert is_transient(exc)


def test_a_redis_timeout_is_transient() -> None:
    # A server that accepts and never answers: the client's read times out.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.2, retry=NO_RETRY)
        exc = raised(client.ping)
    assert isinstance(exc, redis.exceptions.TimeoutError)
    assert is_transient(exc)


def test_a_broker_out_of_reach_is_transient() -> None:
    bus = KafkaBus(f"127.0.0.1:{closed_port()}", send_timeout_s=1)
    try:
        exc = raised(lambda: bus.publish_raw("test.faults", b"agglo-pau", b"{}", []))
    finally:
        bus.close()
    assert isinstance(exc, PublishError)
    assert is_transient(exc)


def test_an_outage_wrapped_in_another_error_is_still_transient() -> None:
    client = redis.Redis(host="127.0.0.1", port=closed_port(), retry=NO_RETRY)

    def read_cache() -> None:
        try:
            client.ping()
        except redis.exceptions.ConnectionError as cause:
            raise RuntimeError("le cache n'a pas répondu") from cause

    exc = raised(read_cache)
    assert isinstance(exc, RuntimeError)
    assert is_transient(exc)


def test_deterministic_failures_are_not_transient() -> None:
    class Avis(BaseModel):
        note: int

    envelope = raised(lambda: from_binary(b"\xff pas du json", [("ce_id", b"x")]))
    assert isinstance(envelope, EnvelopeError)
    validation = raised(lambda: Avis.model_validate({"note": "excellent"}))
    assert isinstance(validation, ValidationError)
    for exc in (envelope, validation, KeyError("entrée inconnue"), ValueError("type inconnu")):
        assert not is_transient(exc), exc


def test_an_error_raised_while_handling_an_outage_keeps_the_outage() -> None:
    # ``__context__``: an error raised in the ``except`` block of an outage.
    def recover() -> None:
        try:
            raise ConnectionResetError("connexion réinitialisée par le serveur")
        except ConnectionResetError:
            raise LookupError("pendant la reprise")  # noqa: B904 - the context is the point

    exc = raised(recover)
    assert isinstance(exc, LookupError)
    assert is_transient(exc)
