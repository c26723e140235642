"""``citela serve`` refuses what cannot work, before starting anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_several_workers_without_kafka_are_refused_with_the_reason(tmp_path: Path) -> None:
    env = {**os.environ, "CITELA_DATA_DIR": str(tmp_path / "var")}
    for key in ("CITELA_KAFKA_BOOTSTRAP", "CITELA_DATABASE_URL", "CITELA_REDIS_URL"):
        env.pop(key, None)
    done = subprocess.run(
        [sys.executable, "-m", "citela_platform.cli", "serve", "feedback", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "plusieurs workers demandent Kafka" in done.stderr
    assert "--workers 1" in done.stderr
    assert not (tmp_path / "var" / "bus.db").exists(), "nothing started, nothing opened"
