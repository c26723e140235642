"""Tables of the ingest service (schema ``ingest``)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from citela_common.db import service_metadata
from citela_common.outbox import OutboxMixin, ProcessedEventMixin

SCHEMA = "ingest"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


class Outbox(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass
