"""A Celery task class that waits out an outage: a transient failure (the database, Redis or
the broker out of reach, ``citela_common.faults.is_transient``) is retried without limit, with
a backoff doubling from ``retry_base_s`` up to ``retry_cap_s``; anything else fails the task at
once, as before.

A bounded ``max_retries`` lost the work of a longer outage for good (the task failed and was
acknowledged); an unbounded retry is safe because every task of ours is idempotent.
Eager tasks (the embedded mode) are not retried here: they run in the caller, which tries
again on its next pass (the scoring runner, the next harvest).
"""

from __future__ import annotations

from typing import Any

from celery import Task

from citela_common.faults import is_transient
from citela_common.logging import get_logger

log = get_logger(__name__)


class RetryTransient(Task):  # type: ignore[misc]  # celery is untyped
    """Give it as ``base=`` to ``app.task``; keep ``acks_late``: the message is acknowledged
    once its retry is queued."""

    max_retries = None  # Celery's word for "no limit" (its default is 3)
    retry_base_s: float = 1.0
    retry_cap_s: float = 120.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            request = self.request
            if not is_transient(exc) or request.is_eager or request.called_directly:
                raise
            retries = int(request.retries or 0)
            countdown = min(self.retry_cap_s, self.retry_base_s * 2 ** min(retries, 16))
            log.warning(
                "task.retry_transient",
                task=self.name,
                attempt=retries + 1,
                retry_in_s=countdown,
                error=repr(exc),
            )
            raise self.retry(exc=exc, countdown=countdown) from exc
