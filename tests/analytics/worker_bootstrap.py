"""A Celery worker of the platform whose sentiment backend is slow and says when it works.

``python -m tests.analytics.worker_bootstrap worker -A citela_platform.celery_app …``

The backend is the tests' keyword backend, sleeping ``CITELA_TEST_BATCH_SECONDS`` per batch
and appending "<pid> <batch size>" to ``CITELA_TEST_MARKER`` when a batch starts, so a test
can kill the process that is scoring, mid-batch. ``CITELA_TEST_QUEUE`` names the queue it
consumes; ``CITELA_TEST_VISIBILITY_TIMEOUT`` shortens Redis' visibility timeout (2 h in
production) so that a message of a worker killed outright comes back within seconds.
"""

from __future__ import annotations

import os
import sys
import time

from citela_analytics import scoring
from citela_analytics.sentiment import Score, SentimentBackend
from citela_analytics.settings import AnalyticsSettings
from tests.analytics.factories import KeywordBackend


class SlowBackend(KeywordBackend):
    def score(self, texts: list[str]) -> list[Score]:
        with open(os.environ["CITELA_TEST_MARKER"], "a") as marker:
            marker.write(f"{os.getpid()} {len(texts)}\n")
        time.sleep(float(os.environ.get("CITELA_TEST_BATCH_SECONDS", "1")))
        return super().score(texts)


def load_backend(settings: AnalyticsSettings) -> SentimentBackend:
    return SlowBackend(os.environ.get("CITELA_TEST_MODEL_VERSION", "1"))


def main() -> None:
    scoring.load_backend = load_backend
    from citela_platform.celery_app import app

    queue = os.environ.get("CITELA_TEST_QUEUE")
    if queue:  # a queue of its own: no stray task of another test run reaches it
        app.conf.task_default_queue = queue
        app.conf.task_queues = None  # not the services' queues: only this one
    visibility = os.environ.get("CITELA_TEST_VISIBILITY_TIMEOUT")
    if visibility:
        app.conf.broker_transport_options = {"visibility_timeout": float(visibility)}
    app.start(sys.argv[1:])


if __name__ == "__main__":
    main()
