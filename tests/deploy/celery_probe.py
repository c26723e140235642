"""A Celery app made by citela_common.tasks.create_celery, with one slow task that leaves a
file when done: ``celery -A tests.deploy.celery_probe worker`` for test_celery_broker_loss."""

from __future__ import annotations

import os
import time
from pathlib import Path

from citela_common.settings import Settings
from citela_common.tasks import create_celery

QUEUE = "probe"
TASK = "citela.probe.slow"

app = create_celery(Settings(_env_file=None), "citela-probe", queues=(QUEUE,))


def slow(name: str, seconds: float) -> str:
    time.sleep(seconds)
    (Path(os.environ["CITELA_PROBE_DIR"]) / name).touch()
    return name


app.task(name=TASK, shared=False)(slow)  # not into every Celery app of the process
