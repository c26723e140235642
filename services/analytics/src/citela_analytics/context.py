"""Everything the analytics service's adapters share, built once per runtime
(``service.build_runtime``): routes, jobs and the CLI get it from ``runtime.context``."""

from __future__ import annotations

from dataclasses import dataclass

from citela_analytics.gateway import ScoringTrigger, TaskGateway
from citela_analytics.reads import SharedReads
from citela_analytics.scoring import BackendHolder
from citela_analytics.settings import AnalyticsSettings
from citela_common.auth import Authenticator
from citela_common.cache import Cache


@dataclass(frozen=True)
class AnalyticsContext:
    settings: AnalyticsSettings
    cache: Cache  # a tenant's reads, by the generation the consumers bump
    backend: BackendHolder  # the sentiment model, loaded once per process
    tasks: TaskGateway  # scoring, reports: in-process when embedded, Celery when distributed
    scoring_trigger: ScoringTrigger  # a tenant's new comments scored together, shortly after
    auth: Authenticator  # staff bearer tokens
    reads: SharedReads  # the matrix and recent comments shared by the requests of a view

    @property
    def min_answers(self) -> int:
        """The default minimum of answers before a cell is classified (a tenant may change it)."""
        return self.settings.analytics_min_answers
