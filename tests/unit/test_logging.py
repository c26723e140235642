"""Logging writes to the stderr of the moment, so a closed capture never breaks a request."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from citela_common.logging import configure_logging, get_logger


def test_logging_configured_under_a_capture_survives_the_capture_closing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    capture = io.StringIO()
    real = sys.stderr
    sys.stderr = capture  # what a CLI runner does around `citela …`
    try:
        configure_logging("INFO", json=True)
    finally:
        sys.stderr = real
    capture.close()
    # Both paths write to the current stderr, not to the closed capture (ValueError before).
    get_logger("test").info("test.after_capture", tenant="aire-cantilienne")
    logging.getLogger("kafka.client").warning("broker down")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert {"event": "test.after_capture", "tenant": "aire-cantilienne"}.items() <= lines[0].items()
    assert "broker down" in lines[1]["event"]
