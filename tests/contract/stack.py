"""A tiny service used only by the contract tests: a notes table, its outbox and dedupe table."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from citela_common.db import BigIntPK, Database, service_metadata
from citela_common.outbox import OutboxMixin, ProcessedEventMixin
from citela_common.tenancy import TenantScoped

SCHEMA = "contract_test"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


class Note(TenantScoped, Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    text: Mapped[str] = mapped_column(String(200))


class Counted(Base):
    """What an idempotent handler counts: one row per handled event id and a counter."""

    __tablename__ = "counted"
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    times: Mapped[int] = mapped_column(default=1)


class Outbox(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


def fresh_database(url: str) -> Database:
    db = Database(url, SCHEMA)
    if not db.is_sqlite:
        from sqlalchemy import text

        with db.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    db.ensure_schema()
    Base.metadata.create_all(db.engine)
    return db
