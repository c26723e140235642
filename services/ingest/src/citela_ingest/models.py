"""Tables of the ingest service (schema ``ingest``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from citela_common.db import BigIntPK, UTCDateTime, service_metadata, utcnow
from citela_common.outbox import OutboxMixin, ProcessedEventMixin
from citela_common.tenancy import TenantScoped

SCHEMA = "ingest"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


class Outbox(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class HarvestRun(TenantScoped, Base):
    """One run of one source for one tenant."""

    __tablename__ = "harvest_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(50))
    territory_code: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    max_items: Mapped[int | None] = mapped_column(Integer)
    location: Mapped[str | None] = mapped_column(Text, doc="file path or URL harvested")
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(
        Text, doc="why the run failed as a whole, in French (nothing archived)"
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class HarvestItem(TenantScoped, Base):
    """One record of a run: done, skipped, invalid (with its raw input) or archived."""

    __tablename__ = "harvest_items"
    __table_args__ = (Index("ix_harvest_items_run_status", "run_id", "status"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("harvest_runs.id", ondelete="CASCADE"))
    remote_id: Mapped[str | None] = mapped_column(String(200))
    entry_id: Mapped[str | None] = mapped_column(String(250))
    status: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(
        String(20),
        doc="new, updated or unchanged; last_good_kept for an invalid record whose "
        "entry keeps its last good version",
    )
    reason: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[str | None] = mapped_column(Text)


class SourceRecord(TenantScoped, Base):
    """What we last published for one key, to publish only changes and spot what vanished."""

    __tablename__ = "source_records"

    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(50), index=True)
    remote_id: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TerritoryRow(Base):
    """The official geography as harvested (shared by tenants: it is the same for everyone)."""

    __tablename__ = "territories"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    level: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class PolicyAreaOverride(TenantScoped, Base):
    """A tenant's own policy area for a source type (overrides the documented table)."""

    __tablename__ = "policy_area_overrides"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_type: Mapped[str] = mapped_column(String(100), primary_key=True)
    policy_area: Mapped[str] = mapped_column(String(100))
