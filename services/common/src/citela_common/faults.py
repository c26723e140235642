"""Which failures are transient (an outage of what we depend on) and which are deterministic.

A transient failure — the database, Redis or the broker unreachable, a connection dropped, a
timeout — says nothing about the event or the request: the same work succeeds once the
dependency is back. Consumers pause and retry it without limit; HTTP answers 503 with
Retry-After. Anything else (a bad envelope, a validation error, an unknown event type, a bug)
fails the same way every time: consumers dead-letter it, HTTP answers 4xx/500.
"""

from __future__ import annotations

import socket
import sqlite3
import sys

import redis.exceptions as redis_errors
from kafka import errors as kafka_errors
from sqlalchemy import exc as sa_errors


class PublishError(RuntimeError):
    """The bus did not acknowledge a message (broker down, timeout)."""


# SQLSTATE classes of PostgreSQL that mean "the server, not the statement": 08 connection
# exception, 53 insufficient resources, 57 operator intervention (shutdown, admin
# shutdown, cannot connect now), 40001/40P01 serialization failure and deadlock (retry).
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57")
_TRANSIENT_SQLSTATES = {"40001", "40P01"}
_SQLITE_TRANSIENT = ("locked", "busy", "disk i/o", "unable to open")

_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    PublishError,
    sa_errors.DisconnectionError,
    sa_errors.TimeoutError,  # the pool's checkout timeout
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    redis_errors.TryAgainError,
    kafka_errors.KafkaConnectionError,
    kafka_errors.BrokerNotAvailableError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.RequestTimedOutError,
    kafka_errors.NotLeaderForPartitionError,
    kafka_errors.LeaderNotAvailableError,
    ConnectionError,  # builtins: refused, reset, aborted
    TimeoutError,
    socket.gaierror,
)


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is an outage of a dependency, not a property of
    the work: retrying later, unchanged, can succeed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _transient_one(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _transient_one(exc: BaseException) -> bool:
    if isinstance(exc, _TRANSIENT_TYPES):
        return True
    if isinstance(exc, sa_errors.DBAPIError):
        if exc.connection_invalidated:
            return True
        if isinstance(exc, sa_errors.OperationalError | sa_errors.InterfaceError):
            if isinstance(exc.orig, sqlite3.Error):
                # SQLite: busy/locked by another writer, or its file unreachable; not "no such
                # table" nor a constraint (the statement's own fault).
                return any(sign in str(exc.orig).lower() for sign in _SQLITE_TRANSIENT)
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate is None:
                # No SQLSTATE: the driver never reached a server (refused, dropped).
                return True
            return _transient_sqlstate(sqlstate)
        sqlstate = getattr(exc.orig, "sqlstate", None)
        return sqlstate is not None and _transient_sqlstate(sqlstate)
    psycopg = sys.modules.get("psycopg")  # not imported: none of its errors can exist
    if psycopg is not None and isinstance(exc, psycopg.Error):
        # The driver's own errors, unwrapped: what the outbox's and the harvester's COPY
        # raise. Like above: no SQLSTATE on an operational error = no server reached.
        sqlstate = exc.sqlstate
        if sqlstate is None:
            return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
        return _transient_sqlstate(sqlstate)
    return isinstance(exc, kafka_errors.KafkaError) and bool(getattr(exc, "retriable", False))


def _transient_sqlstate(sqlstate: str) -> bool:
    return sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES)
