"""Tables of the catalogue service (schema ``catalogue``): its projection of the catalogue events.

Full-text search: on PostgreSQL a ``search_vector`` tsvector (configuration ``catalogue.fr``:
French stemming with accents removed) under a GIN index; on SQLite an FTS5 table
``entries_fts`` keyed by ``entries.id`` holding text folded and stemmed by ``search.py``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from citela_common.db import BigIntPK, UTCDateTime, service_metadata
from citela_common.outbox import OutboxMixin, ProcessedEventMixin
from citela_common.tenancy import TenantScoped

SCHEMA = "catalogue"
TS_CONFIG = f"{SCHEMA}.fr"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


class Outbox(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class Entry(TenantScoped, Base):
    __tablename__ = "entries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "entry_id"),
        Index("ix_entries_tenant_title", "tenant_id", "title_sort", "id"),
        Index("ix_entries_tenant_point", "tenant_id", "lat", "lon"),
        Index("ix_entries_tenant_dates", "tenant_id", "kind", "first_date", "last_date"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(250))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(500))
    title_sort: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    source_type: Mapped[str | None] = mapped_column(String(100))
    policy_area: Mapped[str | None] = mapped_column(String(100))
    commune_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    epci_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    departement_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    opening_hours: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    dates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    first_date: Mapped[date | None] = mapped_column(Date)
    last_date: Mapped[date | None] = mapped_column(Date)
    url: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR().with_variant(Text(), "sqlite"), nullable=True, deferred=True
    )


class EntryCommune(TenantScoped, Base):
    """Which communes an entry belongs to: the join that territory filters use."""

    __tablename__ = "entry_communes"
    __table_args__ = (Index("ix_entry_communes_commune", "tenant_id", "commune_code"),)

    entry_pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    commune_code: Mapped[str] = mapped_column(String(10), primary_key=True)


class TerritoryRow(TenantScoped, Base):
    __tablename__ = "territories"
    __table_args__ = (
        Index("ix_territories_epci", "tenant_id", "epci_code"),
        Index("ix_territories_parent", "tenant_id", "parent_commune_code"),
        Index("ix_territories_name", "tenant_id", "name_folded"),
        Index("ix_territories_code", "tenant_id", "code"),
        Index("ix_territories_departement", "tenant_id", "departement_code"),
    )

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[str] = mapped_column(String(20), primary_key=True)
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    name_folded: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str | None] = mapped_column(String(5))
    departement_code: Mapped[str | None] = mapped_column(String(5))
    departement_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    epci_code: Mapped[str | None] = mapped_column(String(12))
    parent_commune_code: Mapped[str | None] = mapped_column(String(10))
    postal_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    population: Mapped[int | None] = mapped_column(Integer)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
