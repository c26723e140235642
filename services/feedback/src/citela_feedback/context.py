"""Everything the feedback service's adapters share, built once per process
(``service.build_context``): routes get it from ``runtime.context``, the CLI and the demo
from the runtime they build."""

from __future__ import annotations

from dataclasses import dataclass, field

from citela_common.auth import Authenticator, PasswordHasher, TokenService
from citela_common.db import Database
from citela_feedback.group_commit import GroupCommitter
from citela_feedback.lookups import Lookups
from citela_feedback.mailer import Mailer
from citela_feedback.ratelimit import RateLimiter
from citela_feedback.settings import FeedbackSettings


@dataclass
class FeedbackContext:
    settings: FeedbackSettings
    db: Database
    tokens: TokenService
    passwords: PasswordHasher
    mailer: Mailer
    limiter: RateLimiter
    lookups: Lookups  # keys, tenants and entry verdicts the intake reads, cached per process
    auth: Authenticator  # bearer tokens and partner keys (a key's use counted by ``quotas``)
    # Single feedback POSTs written together (set by build_context: it runs with this context).
    committer: GroupCommitter = field(init=False)

    @property
    def secret(self) -> str:
        return self.settings.secret_key.get_secret_value()
