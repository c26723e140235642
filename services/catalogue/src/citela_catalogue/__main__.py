"""``python -m citela_catalogue``: the catalogue service alone (the territory's catalogue).

Its API, outbox relay and consumers in one process, as its image runs it
(see citela_common.serving).
"""

from __future__ import annotations

from fastapi import FastAPI

from citela_catalogue.service import build_runtime
from citela_common import serving


def create_app() -> FastAPI:
    """The uvicorn factory of each worker process."""
    return serving.create_app(build_runtime)


def main() -> None:
    serving.main("catalogue", "citela_catalogue.__main__:create_app", build_runtime)


if __name__ == "__main__":
    main()
