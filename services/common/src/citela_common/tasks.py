"""Celery configuration: Redis in the distributed mode, in-process execution when embedded.

The same task functions run either way; only where they run changes.
"""

from __future__ import annotations

from celery import Celery

from citela_common.settings import Settings


def create_celery(settings: Settings, name: str = "citela") -> Celery:
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
        # Time limits stay well under the visibility timeout, so a slow task is not
        # handed to a second worker while the first still runs it.
        broker_transport_options={"visibility_timeout": 2 * 3600},
        broker_connection_retry_on_startup=True,
    )
    if settings.redis_url:
        app.conf.broker_url = settings.redis_url
        app.conf.result_backend = settings.redis_url
    else:
        app.conf.broker_url = "memory://"
        app.conf.result_backend = "cache+memory://"
        app.conf.task_always_eager = True
        app.conf.task_eager_propagates = True
    return app
