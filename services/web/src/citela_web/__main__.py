"""``python -m citela_web``: the citizen portal and the authority's dashboard alone, calling
the four APIs at their ``CITELA_WEB_*_URL``, as its image runs it (see citela_common.serving)."""

from __future__ import annotations

from fastapi import FastAPI

from citela_common import serving
from citela_common.settings import get_settings
from citela_web.app import create_web_app


def create_app() -> FastAPI:
    """The uvicorn factory of each worker process."""
    return create_web_app(get_settings())


def main() -> None:
    serving.main("web", "citela_web.__main__:create_app", None)


if __name__ == "__main__":
    main()
