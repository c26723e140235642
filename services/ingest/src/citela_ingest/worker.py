"""The ingest service's Celery app: ``celery -A citela_ingest.worker worker`` (and ``beat``).

Its image runs it beside the API: the worker consumes the ``ingest`` queue only (where every
``citela.ingest.*`` task goes, see citela_common.tasks) and beat sends the service's schedule.
"""

from __future__ import annotations

from citela_common.settings import get_settings
from citela_common.tasks import create_celery
from citela_ingest import tasks

QUEUE = "ingest"

settings = get_settings()
app = create_celery(settings, "citela-ingest", queues=(QUEUE,))
tasks.register(app, settings)
