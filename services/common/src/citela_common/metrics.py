"""Prometheus metrics shared by every service (names ``citela_<thing>_<unit>``).

With several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder before
the processes start: prometheus_client then writes per-process files and ``render()``
aggregates them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

HTTP_REQUESTS = Counter(
    "citela_http_requests_total",
    "HTTP requests answered, by service, route template, method and status.",
    ["service", "route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "citela_http_request_duration_seconds",
    "Time to answer an HTTP request, by service, route template, method and status.",
    ["service", "route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BUS_PUBLISHED = Counter(
    "citela_bus_events_published_total", "Events acknowledged by the bus, by topic.", ["topic"]
)
BUS_CONSUMED = Counter(
    "citela_bus_events_consumed_total",
    "Events handled by a consumer group, by outcome (ok, dead_lettered).",
    ["topic", "group", "outcome"],
)
BUS_HANDLER_SECONDS = Histogram(
    "citela_bus_handler_duration_seconds",
    "Time a consumer handler took for one event.",
    ["topic", "group"],
)
BUS_CONSUMER_LAG = Gauge(
    "citela_bus_consumer_lag_events",
    "Events not yet handled by a consumer group, summed over partitions.",
    ["topic", "group"],
    multiprocess_mode="max",
)
BUS_CONSUMER_PAUSED = Gauge(
    "citela_bus_consumer_paused",
    "1 while a consumer group is paused on a transient failure (a dependency out of reach), "
    "retrying the same batch; 0 otherwise.",
    ["topic", "group"],
    multiprocess_mode="max",
)
BUS_TRANSIENT_FAILURES = Counter(
    "citela_bus_transient_failures_total",
    "Tries of a batch that failed transiently (each one is followed by a backoff and a retry).",
    ["topic", "group"],
)
# The relay that holds the service's publishing lock sets these; the others leave them: the
# most recent value of a live worker is the truth (a max would keep a stale worker's figure).
OUTBOX_BACKLOG = Gauge(
    "citela_outbox_backlog_events",
    "Events written to a service's outbox and not yet published.",
    ["service"],
    multiprocess_mode="livemostrecent",
)
OUTBOX_OLDEST_AGE = Gauge(
    "citela_outbox_oldest_event_age_seconds",
    "Age of the oldest unpublished outbox event.",
    ["service"],
    multiprocess_mode="livemostrecent",
)
OUTBOX_PUBLISHED = Counter(
    "citela_outbox_events_published_total", "Outbox events published, by service.", ["service"]
)
OUTBOX_FAILURES = Counter(
    "citela_outbox_publish_failures_total",
    "Outbox relay batches that the bus refused (they are retried).",
    ["service"],
)
CACHE_ERRORS = Counter(
    "citela_cache_errors_total",
    "Cache operations Redis failed (each answered as a miss or skipped: reads fail open).",
    ["cache", "op"],
)
RETENTION_PURGED = Counter(
    "citela_retention_purged_rows_total",
    "Rows deleted by the retention purges (relayed outbox rows, processed-event marks, "
    "expired idempotency records).",
    ["service", "table"],
)


def render() -> tuple[bytes, str]:
    """The exposition text and its content type, aggregated across processes when needed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
