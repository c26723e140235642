"""Ingest metrics: records by source and outcome, runs by status, run duration, last successful
and last failed run."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS = Counter(
    "citela_ingest_records_total",
    "Records harvested, by source and outcome (new, updated, unchanged, skipped, invalid, "
    "archived, last_good_kept).",
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
RUNS = Counter(
    "citela_ingest_runs_total",
    "Harvest runs finished (not dry), by source and status (done, done_with_errors, failed). "
    "A failed run archived nothing; its reason is in the runs API.",
    ["source", "status"],
)
LAST_FAILURE = Gauge(
    "citela_ingest_last_failure_timestamp_seconds",
    "Unix time of the last failed (not dry) run, by source: failing since the last success when "
    "greater than citela_ingest_last_success_timestamp_seconds.",
    ["source"],
    multiprocess_mode="max",
)
