"""Ingest metrics: records by source and outcome, run duration, last successful run."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS = Counter(
    "citela_ingest_records_total",
    "Records harvested, by source and outcome (new, updated, unchanged, skipped, invalid, "
    "archived).",
    ["source", "outcome"],
)
RUN_SECONDS = Histogram(
    "citela_ingest_run_duration_seconds",
    "Duration of a harvest run, by source.",
    ["source"],
    buckets=(1, 5, 15, 60, 300, 900, 1800, 3600),
)
LAST_SUCCESS = Gauge(
    "citela_ingest_last_success_timestamp_seconds",
    "Unix time of the last successful (not failed, not dry) run, by source.",
    ["source"],
    multiprocess_mode="max",
)
