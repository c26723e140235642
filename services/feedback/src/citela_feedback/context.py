"""Everything the feedback service's adapters share, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from citela_common.auth import PasswordHasher, TokenService
from citela_common.db import Database
from citela_common.settings import Settings
from citela_feedback.lookups import Lookups
from citela_feedback.mailer import Mailer
from citela_feedback.ratelimit import RateLimiter


@dataclass
class FeedbackContext:
    settings: Settings
    db: Database
    tokens: TokenService
    passwords: PasswordHasher
    mailer: Mailer
    limiter: RateLimiter
    lookups: Lookups  # keys, tenants and entry verdicts the intake reads, cached per process

    @property
    def secret(self) -> str:
        return self.settings.secret_key.get_secret_value()
