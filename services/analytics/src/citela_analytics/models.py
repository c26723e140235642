"""Tables of the analytics service (schema ``analytics``).

- ``feedback_facts``: the current state of each feedback as the feedback events told it (a
  revision replaces it; a retraction empties it, comment included, and leaves a tombstone so
  that a late event cannot bring it back);
- ``catalogue_entries``: analytics' own projection of the catalogue (title, policy area,
  territory) from the catalogue events;
- ``comment_scores``: sentiment of a feedback revision, per backend and model version;
- ``matrix_cells``: running sums of the answers per service and local day, maintained
  incrementally as events arrive; a policy area's figures are the sums of its services;
- ``tenant_settings``: each tenant's matrix settings (crosshairs, minimum answers);
- ``matrix_snapshots``: the weekly state of the matrix, for trends;
- ``reports``: synthesis reports, built in the background.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column

from citela_common.db import UTCDateTime, service_metadata, utcnow
from citela_common.outbox import OutboxMixin, ProcessedEventMixin
from citela_common.tenancy import TenantScoped

SCHEMA = "analytics"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


class Outbox(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class CatalogueEntry(TenantScoped, Base):
    __tablename__ = "catalogue_entries"
    __table_args__ = (Index("ix_catalogue_entries_area", "tenant_id", "policy_area"),)

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(500))
    policy_area: Mapped[str | None] = mapped_column(String(100))
    commune_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    epci_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    departement_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FeedbackFact(TenantScoped, Base):
    __tablename__ = "feedback_facts"
    __table_args__ = (
        Index("ix_feedback_facts_entry_day", "tenant_id", "entry_id", "day"),
        Index("ix_feedback_facts_day", "tenant_id", "day"),
    )

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    feedback_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(250))
    revision: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(20))
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    importance: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    day: Mapped[date | None] = mapped_column(Date, doc="local (Europe/Paris) day of submitted_at")
    retracted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    event_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CommentScore(TenantScoped, Base):
    __tablename__ = "comment_scores"
    __table_args__ = (Index("ix_comment_scores_feedback", "tenant_id", "feedback_id", "revision"),)

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    feedback_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(200), primary_key=True)
    label: Mapped[str] = mapped_column(String(10))
    score: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MatrixCell(TenantScoped, Base):
    __tablename__ = "matrix_cells"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    sum_imp: Mapped[int] = mapped_column(BigInteger)
    sum_imp_sq: Mapped[int] = mapped_column(BigInteger)
    sum_sat: Mapped[int] = mapped_column(BigInteger)
    sum_sat_sq: Mapped[int] = mapped_column(BigInteger)
    sum_gap_sq: Mapped[int] = mapped_column(BigInteger)


class TenantSettings(TenantScoped, Base):
    __tablename__ = "tenant_settings"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    crosshair_mode: Mapped[str] = mapped_column(String(20))
    min_answers: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))


class Snapshot(TenantScoped, Base):
    __tablename__ = "matrix_snapshots"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    backfilled: Mapped[bool] = mapped_column(Boolean, default=False)
    matrix: Mapped[dict[str, Any]] = deferred(mapped_column(JSON))


class Report(TenantScoped, Base):
    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_tenant_requested", "tenant_id", "requested_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    crosshair_mode: Mapped[str | None] = mapped_column(String(20))
    requested_by: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    # What the report says (schemas.ReportContentOut as JSON); the web renders it.
    content: Mapped[dict[str, Any] | None] = deferred(mapped_column(JSON))
