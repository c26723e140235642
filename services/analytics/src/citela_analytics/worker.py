"""The analytics service's Celery app: ``celery -A citela_analytics.worker worker`` (and ``beat``).

Its image runs it beside the API: the worker consumes the ``analytics`` queue only (where every
``citela.analytics.*`` task goes, see citela_common.tasks) and beat sends the service's schedule.
"""

from __future__ import annotations

from citela_analytics import tasks
from citela_analytics.service import worker_runtime
from citela_common.settings import get_settings
from citela_common.tasks import create_celery

QUEUE = "analytics"

settings = get_settings()
app = create_celery(settings, "citela-analytics", queues=(QUEUE,))
tasks.register(app, settings, worker_runtime)
