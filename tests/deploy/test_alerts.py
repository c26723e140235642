"""The alert rules load in Prometheus and fire when they should: promtool, the checker and
unit-test runner of Debian's ``prometheus`` package, which deploy/test.sh installs (these
tests fail, never skip, without it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "alerts.yml"
RULE_TESTS = PROMETHEUS_DIR / "alerts.test.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: deploy/test.sh installs it (apt package prometheus)"
    return found


def run(promtool: str, *args: str) -> str:
    done = subprocess.run(
        [promtool, *args],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_accepts_the_rules(promtool: str) -> None:
    out = run(promtool, "check", "rules", RULES.name)
    assert "SUCCESS" in out


def test_every_alert_fires_in_the_rule_tests(promtool: str) -> None:
    out = run(promtool, "test", "rules", RULE_TESTS.name)
    assert "SUCCESS" in out
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    tests: list[dict[str, Any]] = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if not case.get("exp_alerts")
    }
    assert alerts - fired == set(), f"alerts no test sees firing: {sorted(alerts - fired)}"
    assert len(quiet) >= 5, "too few checks that an alert stays quiet before its time"


def test_the_rule_tests_catch_a_wrong_threshold(promtool: str, tmp_path: Path) -> None:
    # The same tests against rules whose outbox threshold is wrong (an hour) must fail.
    broken = RULES.read_text().replace("(citela_outbox_oldest_event_age_seconds) > 300", "> 3600")
    assert broken != RULES.read_text()
    (tmp_path / RULES.name).write_text(broken)
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    done = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "CitelaOutboxBacklogStale" in done.stdout + done.stderr
