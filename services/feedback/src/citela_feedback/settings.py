"""Settings only the feedback service reads (still ``CITELA_*`` variables).

``build_runtime`` lifts the platform's shared ``Settings`` into this class
(``settings_for``); a test or a bench that sets one of these fields builds
``FeedbackSettings`` itself.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from citela_common.settings import Settings


class FeedbackSettings(Settings):
    # --- intake ------------------------------------------------------------------------------
    feedback_group_commit_flushes: int = Field(
        1,
        ge=1,
        le=32,
        description="single feedback POSTs: groups written at once per worker (the requests "
        "that arrive meanwhile are written together in the next group)",
    )
    feedback_group_commit_max: int = Field(
        64, ge=1, le=1000, description="single feedback POSTs: most requests in one group"
    )
    idempotency_ttl_s: int = Field(
        24 * 3600, ge=60, description="how long an Idempotency-Key's first response is replayed"
    )
    # --- rate limits ---------------------------------------------------------------------------
    partner_rate_limit_per_minute: int = Field(
        600, ge=1, description="default requests per minute of one partner API key"
    )
    login_rate_limit_per_minute: int = Field(
        10, ge=1, description="login attempts per minute for one email address"
    )
    # --- mail ----------------------------------------------------------------------------------
    portal_public_url: str = Field(
        "http://127.0.0.1:8000",
        description="public base URL of the web portal: the confirmation mails link to its "
        "/compte/confirmation page",
    )
    smtp_host: str | None = Field(
        None, description="SMTP server for outgoing mail; none = mails are only logged"
    )
    smtp_port: int = Field(25, ge=1, le=65535, description="port of the SMTP server")
    smtp_username: str | None = Field(None, description="SMTP login, when the server wants one")
    smtp_password: SecretStr | None = Field(None, description="SMTP password")
    smtp_starttls: bool = Field(False, description="upgrade the SMTP connection with STARTTLS")
    smtp_timeout_s: float = Field(10.0, gt=0, description="SMTP connection timeout, in seconds")
    mail_from: str = Field(
        "Citéla <ne-pas-repondre@citela.fr>", description="From: of the mails the platform sends"
    )
