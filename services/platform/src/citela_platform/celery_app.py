"""The Celery application of the platform: ``celery -A citela_platform.celery_app worker``.

Each service registers its tasks (and beat entries) here; in the embedded mode the same tasks
run in-process (``task_always_eager``). Deployed, each service runs its own worker instead
(``celery -A citela_ingest.worker worker``, from its own image).
"""

from __future__ import annotations

from citela_analytics import tasks as analytics_tasks
from citela_analytics.service import worker_runtime as analytics_runtime
from citela_common.settings import get_settings
from citela_common.tasks import create_celery
from citela_ingest import tasks as ingest_tasks
from citela_platform import retention

settings = get_settings()
# Every service with tasks, in one worker (development, tests): it consumes their queues.
app = create_celery(settings, "citela", queues=("ingest", "analytics", "platform"))
ingest_tasks.register(app, settings)
analytics_tasks.register(app, settings, analytics_runtime)
retention.register(app, settings)  # every service's purges, on beat
