"""``python -m citela_ingest``: the ingest service alone (the open-data harvests).

Its API, outbox relay and consumers in one process, as its image runs it
(see citela_common.serving).
"""

from __future__ import annotations

from fastapi import FastAPI

from citela_common import serving
from citela_ingest.service import build_runtime


def create_app() -> FastAPI:
    """The uvicorn factory of each worker process."""
    return serving.create_app(build_runtime)


def main() -> None:
    serving.main("ingest", "citela_ingest.__main__:create_app", build_runtime)


if __name__ == "__main__":
    main()
