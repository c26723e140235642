"""Structured logging: one JSON object per line, with request id, tenant and event id.

Those three travel in context variables (structlog.contextvars), so the HTTP middleware and
the bus consumers bind them once and every log line below inherits them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

_configured = False


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of writing, not at configuration: a
    CLI run under a test runner configures logging while stderr is a capture that is closed
    afterwards, and a log line on a closed stream broke the next error response."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    global _configured
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    # Libraries log through stdlib logging: route them through the same renderer.
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(processor=renderer, foreign_pre_chain=shared)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("kafka").setLevel(max(logging.WARNING, root.level))
    _configured = True


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Bind request_id / tenant / event_id for the duration of a block."""
    clean = {k: v for k, v in values.items() if v is not None}
    with structlog.contextvars.bound_contextvars(**clean):
        yield
