"""The Celery queues seen by Prometheus: ``python -m citela_platform.queue_metrics --port P``.

Celery exposes no metrics of its own; its broker (Redis) holds each queue as a list named after
it, and the tasks a worker took but has not acknowledged yet (``acks_late``) in the hash
``unacked``. This process reads them every few seconds and serves them on ``/metrics``, so that
an alert fires when a queue grows (a worker down or too slow) and the dashboard shows it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import redis
from prometheus_client import Gauge, start_http_server

from citela_common.settings import get_settings

# Every queue of citela_platform.celery_app: one per service with tasks, and the platform's.
QUEUES = ("ingest", "analytics", "platform")
# kombu's Redis transport keeps a queue's prioritised tasks in lists beside the plain one, one per
# priority step (its default steps: 0, 3, 6, 9; step 0 is the plain list).
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
UNACKED_KEY = "unacked"

CELERY_QUEUE_LENGTH = Gauge(
    "citela_celery_queue_length",
    "Celery tasks waiting in a queue (not yet taken by a worker).",
    ["queue"],
)
CELERY_UNACKED = Gauge(
    "citela_celery_unacked_tasks",
    "Celery tasks taken by a worker and not yet acknowledged (running, or lost with it).",
)
CELERY_BROKER_UP = Gauge(
    "citela_celery_broker_up", "1 when the Celery broker (Redis) answered the last reading."
)


def lists_of(queue: str) -> list[str]:
    return [queue, *(f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS)]


def read_once(client: redis.Redis[bytes], queues: Sequence[str]) -> None:
    """Update the gauges from the broker; on failure the broker gauge says so."""
    try:
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            for key in lists_of(queue):
                pipe.llen(key)
        pipe.hlen(UNACKED_KEY)
        answers = [int(n) for n in pipe.execute()]
    except redis.RedisError:
        CELERY_BROKER_UP.set(0)
        return
    per_queue = len(PRIORITY_STEPS) + 1
    for i, queue in enumerate(queues):
        CELERY_QUEUE_LENGTH.labels(queue=queue).set(
            sum(answers[i * per_queue : (i + 1) * per_queue])
        )
    CELERY_UNACKED.set(answers[-1])
    CELERY_BROKER_UP.set(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m citela_platform.queue_metrics")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between readings")
    parser.add_argument("--queue", action="append", help=f"default: {', '.join(QUEUES)}")
    args = parser.parse_args(argv)
    url = get_settings().redis_url
    if not url:
        parser.error("CITELA_REDIS_URL is not set: the Celery broker is Redis")
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    queues = tuple(args.queue or QUEUES)
    read_once(client, queues)
    start_http_server(args.port, addr=args.host)
    while True:
        time.sleep(args.interval)
        read_once(client, queues)


if __name__ == "__main__":
    main()
