"""What the ingest service's jobs and CLI share beyond the runtime: its settings and endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from citela_ingest.limits import ReadLimits
from citela_ingest.runs import Endpoints
from citela_ingest.settings import IngestSettings


@dataclass(frozen=True)
class IngestContext:
    """The ingest service's part of its ``ServiceRuntime``."""

    settings: IngestSettings

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints.from_settings(self.settings)

    @property
    def grace_period(self) -> timedelta:
        """How long a record may be missing upstream before it is archived."""
        return timedelta(days=self.settings.ingest_grace_days)

    @property
    def limits(self) -> ReadLimits:
        """What a run may read (file sizes, ZIP archives)."""
        return self.settings.read_limits()

    @property
    def min_share(self) -> float:
        """Below this share of the last complete run's entries, a run fails."""
        return self.settings.ingest_min_share_of_previous
