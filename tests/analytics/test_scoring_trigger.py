"""The scoring trigger groups a burst of new comments into one scoring run per tenant."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from citela_analytics.gateway import SCORE_TASK, ScoringTrigger, TaskGateway


class RecordingGateway:
    """Stands in for the Celery gateway in the embedded mode: records the runs it is sent."""

    eager = True

    def __init__(self) -> None:
        self.runs: list[tuple[str, tuple[Any, ...]]] = []
        self.done = threading.Event()

    def send(self, name: str, *args: Any, countdown: float | None = None) -> None:
        self.runs.append((name, args))
        self.done.set()


def wait_for(condition: Any, timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_burst_of_comments_is_scored_in_one_run_per_tenant() -> None:
    gateway = RecordingGateway()
    trigger = ScoringTrigger(cast(TaskGateway, gateway), delay_s=0.3)
    for _ in range(200):  # 200 feedback events of one tenant, 20 of another, in a burst
        trigger("aire-cantilienne")
    for _ in range(20):
        trigger("ville-senlis")
    wait_for(lambda: len(gateway.runs) >= 2)
    time.sleep(0.4)  # nothing else comes
    assert sorted(gateway.runs) == [
        (SCORE_TASK, ("aire-cantilienne",)),
        (SCORE_TASK, ("ville-senlis",)),
    ]
    trigger("aire-cantilienne")  # a later comment: a run of its own
    wait_for(lambda: len(gateway.runs) == 3)
    trigger.close()


def test_closing_scores_what_was_pending_and_later_requests_at_once() -> None:
    gateway = RecordingGateway()
    trigger = ScoringTrigger(cast(TaskGateway, gateway), delay_s=30)  # never on its own here
    trigger("aire-cantilienne")
    assert gateway.runs == []
    trigger.close()
    assert gateway.runs == [(SCORE_TASK, ("aire-cantilienne",))]
    trigger("aire-cantilienne")  # after close (a runtime stopping): scored in the caller
    assert len(gateway.runs) == 2
