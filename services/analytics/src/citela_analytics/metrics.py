"""Prometheus metrics of the analytics service (consumer lag is the bus's generic gauge)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

COMMENTS_SCORED = Counter(
    "citela_analytics_comments_scored_total",
    "Comment scores stored by the scorer (each one once), by backend.",
    ["backend"],
)
SCORING_BATCH_SECONDS = Histogram(
    "citela_analytics_scoring_batch_duration_seconds",
    "Time a sentiment backend took to score one batch of comments, by backend.",
    ["backend"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
SCORING_DELAY_SECONDS = Histogram(
    "citela_analytics_scoring_delay_seconds",
    "Time from a feedback event to the score of its comment being stored, by backend.",
    ["backend"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
)
MATRIX_UPDATE_SECONDS = Histogram(
    "citela_analytics_matrix_update_delay_seconds",
    "Time from a feedback event's creation to the matrix including it (committed).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RECOMPUTE_SECONDS = Histogram(
    "citela_analytics_recompute_duration_seconds",
    "Time to recompute one tenant's matrix exactly from the facts.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RECOMPUTE_DRIFT = Counter(
    "citela_analytics_recompute_drifted_cells_total",
    "Matrix cells whose incremental sums differed from the exact recomputation (expect 0).",
)
