"""The settings only the web service reads (still `CITELA_*` variables)."""

from __future__ import annotations

from pydantic import Field

from citela_common.settings import Settings


class WebSettings(Settings):
    web_catalogue_url: str = Field(
        "http://127.0.0.1:8002", description="distributed mode: the catalogue API the web calls"
    )
    web_feedback_url: str = Field(
        "http://127.0.0.1:8003", description="distributed mode: the feedback API the web calls"
    )
    web_analytics_url: str = Field(
        "http://127.0.0.1:8004", description="distributed mode: the analytics API the web calls"
    )
    web_ingest_url: str = Field(
        "http://127.0.0.1:8001", description="distributed mode: the ingest API the web calls"
    )
    web_secure_cookies: bool = Field(
        False, description="mark the session cookies Secure (set it behind HTTPS)"
    )
    web_quadrants_ttl_s: float = Field(
        300.0, gt=0, description="how long the web keeps the analytics API's quadrant labels"
    )

    def api_bases(self) -> dict[str, str]:
        """Distributed mode: the base URL of each API the web calls."""
        return {
            "catalogue": self.web_catalogue_url,
            "feedback": self.web_feedback_url,
            "analytics": self.web_analytics_url,
            "ingest": self.web_ingest_url,
        }
