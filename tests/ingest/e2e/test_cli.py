"""`citela ingest …` at the command line: summary table, dry run, refusals, invalid list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citela_common.settings import get_settings
from citela_platform.cli import app
from tests.ingest.e2e.conftest import E2E, EPCI, OISE


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("CITELA_DATA_DIR", str(tmp_path / "var"))
    for key in ("CITELA_DATABASE_URL", "CITELA_KAFKA_BOOTSTRAP", "CITELA_REDIS_URL"):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_ingest_prints_a_summary_and_lists_invalid_records(runner: CliRunner) -> None:
    refused = runner.invoke(
        app,
        [
            "ingest",
            "service-public",
            "--territory",
            EPCI,
            "--file",
            str(E2E / "service-public" / "export.json"),
        ],
    )
    assert refused.exit_code == 2
    assert "harvest it first" in refused.output

    first = runner.invoke(
        app,
        [
            "ingest",
            "territories",
            "--territory",
            "60",
            "--file",
            str(OISE),
            "--tenant",
            "aire-cantilienne",
        ],
    )
    assert first.exit_code == 0, first.output
    assert "nouveaux" in first.output
    assert "679" in first.output

    dry = runner.invoke(
        app,
        [
            "ingest",
            "service-public",
            "--territory",
            EPCI,
            "--tenant",
            "aire-cantilienne",
            "--dry-run",
            "--file",
            str(E2E / "service-public" / "traps.json"),
        ],
    )
    assert dry.exit_code == 3, dry.output  # done, some records set aside
    assert "essai à blanc" in dry.output

    run = runner.invoke(
        app,
        [
            "ingest",
            "service-public",
            "--territory",
            EPCI,
            "--tenant",
            "aire-cantilienne",
            "--file",
            str(E2E / "service-public" / "traps.json"),
        ],
    )
    assert run.exit_code == 3, run.output  # done, some records set aside: not 0, not 1
    assert "done_with_errors" in run.output
    run_id = run.output.split("citela ingest-invalid ")[1].split()[0]
    invalid = runner.invoke(app, ["ingest-invalid", run_id, "--tenant", "aire-cantilienne"])
    assert invalid.exit_code == 0
    assert "marie" in invalid.output

    unknown = runner.invoke(
        app,
        [
            "ingest",
            "cadastre",
            "--territory",
            "60",
            "--tenant",
            "aire-cantilienne",
            "--file",
            str(OISE),
        ],
    )
    assert unknown.exit_code == 2
    assert "unknown source" in unknown.output
