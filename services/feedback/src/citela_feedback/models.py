"""Tables of the feedback service (schema ``feedback``)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from citela_common.db import service_metadata
from citela_common.outbox import OutboxMixin, ProcessedEventMixin

SCHEMA = "feedback"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


class Outbox(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass
