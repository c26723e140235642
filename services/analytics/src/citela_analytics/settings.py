"""Settings only the analytics service reads (still ``CITELA_*`` variables).

``build_runtime`` lifts the platform's shared ``Settings`` into this class
(``settings_for``); a test or a bench that sets one of these fields builds
``AnalyticsSettings`` itself.
"""

from __future__ import annotations

from pydantic import Field

from citela_common.settings import Settings


class AnalyticsSettings(Settings):
    analytics_feedback_url: str = Field(
        "http://127.0.0.1:8003",
        description="the feedback API `citela analytics reconcile` asks for its own counts",
    )
    # --- matrix, scoring, reports ------------------------------------------------------------
    analytics_min_answers: int = Field(
        10, ge=2, description="default minimum answers before a matrix cell is classified"
    )
    analytics_scoring_batch_size: int = Field(
        64, ge=1, description="comments scored per sentiment batch"
    )
    analytics_scoring_delay_s: float = Field(
        1.0, ge=0, description="a tenant's new comments are scored together over this delay"
    )
    analytics_scoring_sweep_s: float = Field(
        60.0, gt=0, description="period of the beat job scoring comments a trigger missed"
    )
    analytics_report_async_min_answers: int = Field(
        2000,
        ge=0,
        description="tenants with at least this many answers get their synthesis report built "
        "by a Celery worker (distributed mode); smaller ones at once",
    )
    analytics_snapshot_cron: str = Field(
        "30 3 * * 1", description="when the weekly matrix snapshots are taken (Celery beat)"
    )

    # --- sentiment (citela_analytics.sentiment) ------------------------------------------------
    sentiment_backend: str = Field(
        "auto",
        description="auto (transformers when sentiment_model is set, else lexicon), "
        "lexicon (the built-in French scorer) or transformers",
    )
    sentiment_model: str | None = Field(
        None, description="transformers: a local model directory, or a hub id already cached"
    )
    sentiment_label_map: str | None = Field(
        None,
        description="model labels → ours, e.g. 'negative=1 star,2 stars;neutral=3 stars;"
        "positive=4 stars,5 stars' or a JSON object; default: recognised label names",
    )
    sentiment_batch_size: int = Field(32, ge=1, description="texts per model call")
    sentiment_device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    sentiment_max_length: int | None = Field(
        None, ge=8, description="truncate texts to this many tokens; default: the model's"
    )
    sentiment_allow_download: bool = Field(
        False, description="let transformers fetch sentiment_model from the hub (off: never)"
    )
