"""``python -m citela_feedback``: the feedback service alone (accounts, partners, intake).

Its API, outbox relay and consumers in one process, as its image runs it
(see citela_common.serving).
"""

from __future__ import annotations

from fastapi import FastAPI

from citela_common import serving
from citela_feedback.service import build_runtime


def create_app() -> FastAPI:
    """The uvicorn factory of each worker process."""
    return serving.create_app(build_runtime)


def main() -> None:
    serving.main("feedback", "citela_feedback.__main__:create_app", build_runtime)


if __name__ == "__main__":
    main()
