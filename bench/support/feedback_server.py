"""The feedback service as ``citela serve feedback`` runs it, for the benchmarks' uvicorn.

``uvicorn --factory bench.support.feedback_server:create --workers N`` from the repository
root, with the settings in the ``CITELA_*`` variables the benchmark passes (no ``.env``). Its
consumers join groups of the benchmark's run (``BENCH_RUN_ID``, unless
``CITELA_CONSUMER_GROUP_SUFFIX`` says otherwise), which the benchmark placed at the end of their
topics: the measure replays no backlog of older events.
"""

from __future__ import annotations

import os

from bench.modes import group_suffix
from fastapi import FastAPI

from citela_common.settings import Settings
from citela_platform.standalone import create_app


def create() -> FastAPI:
    settings = Settings(_env_file=None)
    run = os.environ.get("BENCH_RUN_ID")
    if run and not settings.consumer_group_suffix:
        settings = settings.model_copy(update={"consumer_group_suffix": group_suffix(run)})
    return create_app("feedback", settings)
