"""Celery configuration: Redis in the distributed mode, in-process execution when embedded.

The same task functions run either way; only where they run changes.

Queues: a task named ``citela.<service>.<task>`` goes to the queue ``<service>``, whoever sends
it (an API, beat, a test), and each service's worker (``celery -A citela_<service>.worker
worker``, from the service's own image) consumes its own queue only: a worker never receives a
task it has not registered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from citela_common.settings import Settings


def service_queue(name: str, *_args: Any, **_kwargs: Any) -> dict[str, str] | None:
    """Celery router: ``citela.<service>.<task>`` -> the queue ``<service>``."""
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "citela":
        return {"queue": parts[1]}
    return None


def create_celery(settings: Settings, name: str = "citela", queues: Sequence[str] = ()) -> Celery:
    """A Celery app; ``queues``: what its worker consumes (a service's worker: its own)."""
    app = Celery(name)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=30 * 60,
        task_soft_time_limit=25 * 60,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        timezone="Europe/Paris",
        enable_utc=True,
        # A task taken and never acknowledged (its worker killed, or the broker restarted
        # before the ack) goes back to its queue once this long has passed: longer than the
        # hard time limit, so a slow task is not handed to a second worker while the first
        # still runs it, and short enough that a lost one runs again within the hour.
        broker_transport_options={"visibility_timeout": 3600},
        # Broker loss (Redis restarted or unreachable): keep retrying, at start and after a
        # loss, without limit (Celery's default gives up after 100 tries and the worker
        # exits). The tasks running when the connection drops finish; their ack cannot be
        # sent, so their message stays in the broker's unacknowledged set (persistent Redis)
        # and runs again after the visibility timeout: at least once. Cancelling them instead
        # (worker_cancel_long_running_tasks_on_connection_loss) lost them in
        # tests/deploy/test_celery_broker_loss.py: killed, and neither restored nor left
        # unacknowledged, since the broker was down when Celery tried to put them back.
        broker_connection_retry_on_startup=True,
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_routes=(service_queue,),
    )
    if queues:
        # As a sender declares a queue it routes to: its own direct exchange and routing key.
        app.conf.task_queues = [
            Queue(queue, Exchange(queue), routing_key=queue)  # type: ignore[no-untyped-call]
            for queue in queues
        ]
    if settings.redis_url:
        app.conf.broker_url = settings.redis_url
        app.conf.result_backend = settings.redis_url
    else:
        app.conf.broker_url = "memory://"
        app.conf.result_backend = "cache+memory://"
        app.conf.task_always_eager = True
        app.conf.task_eager_propagates = True
    return app
