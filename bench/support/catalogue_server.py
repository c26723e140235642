"""The catalogue's HTTP API alone, for ``bench/catalogue_search.py``'s uvicorn.

``uvicorn --factory bench.support.catalogue_server:create``, settings from the ``CITELA_*``
variables the benchmark passes (no ``.env``); no consumers: the benchmark loaded the store.
"""

from __future__ import annotations

from fastapi import FastAPI

from citela_common.settings import Settings
from citela_platform.standalone import create_app


def create() -> FastAPI:
    return create_app("catalogue", Settings(_env_file=None), background=False)
