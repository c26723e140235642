"""CI runs the README's test command, then checks what a developer's machine may not: a fresh
clone collects the tests with nothing beside it, and the images build where Docker runs."""

from __future__ import annotations

import re
import subprocess

from tests.architecture.workspace import ROOT

CI = ROOT / ".ci"


def steps() -> list[str]:
    lines = (CI / "run").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_ci_runs_the_readme_test_command_then_the_fresh_clone_and_the_images() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme, "the README no longer names `make test`"
    run = steps()
    assert "make test" in run
    assert ".ci/fresh-clone.sh" in run
    assert ".ci/images.sh" in run


def test_the_fresh_clone_step_clones_into_an_empty_folder_and_collects() -> None:
    script = (CI / "fresh-clone.sh").read_text()
    assert re.search(r"mktemp -d", script)
    assert "git clone" in script
    assert "--frozen" in script
    assert "pytest --collect-only" in script


def test_the_image_step_builds_every_dockerfile_only_where_docker_answers() -> None:
    script = (CI / "images.sh").read_text()
    assert "docker info" in script
    assert "deploy/docker/*.Dockerfile" in script
    assert "SKIPPED" in script, "without an engine the step must say that it built nothing"


def test_the_ci_scripts_parse_and_are_executable() -> None:
    for name in ("run", "fresh-clone.sh", "images.sh"):
        path = CI / name
        assert path.stat().st_mode & 0o111, f".ci/{name} is not executable"
        parsed = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert parsed.returncode == 0, parsed.stderr
