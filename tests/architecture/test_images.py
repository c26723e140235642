"""One image per service, holding that service and citela-common only.

Read from the Dockerfiles (what ``uv sync --package`` installs, which service sources are
copied, what the image runs) and from uv.lock (what installing that package pulls from the
workspace). The platform's image, the composition root, is the one that holds them all.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from tests.architecture.workspace import ROOT, packages

DOCKER_DIR = ROOT / "deploy" / "docker"
COMMON = "citela-common"
PLATFORM = "citela-platform"
SERVICES = sorted(
    p.distribution.removeprefix("citela-")
    for p in packages()
    if p.distribution not in (COMMON, PLATFORM)
)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined, comments out."""
    found: list[tuple[str, str]] = []
    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not logical):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        keyword, _, rest = (logical + line).strip().partition(" ")
        found.append((keyword.upper(), rest.strip()))
        logical = ""
    return found


def installed(path: Path) -> set[str]:
    """The workspace packages the image's ``uv sync`` runs install (``--package``)."""
    runs = [rest for keyword, rest in instructions(path) if keyword == "RUN" and "uv sync" in rest]
    assert runs, f"{path.name}: no uv sync"
    names: set[str] = set()
    for run in runs:
        assert "--frozen" in run, f"{path.name}: not from the lock: {run}"
        assert "--all-packages" not in run, f"{path.name}: installs the whole workspace"
        chosen = re.findall(r"--package[= ](\S+)", run)
        assert chosen, f"{path.name}: uv sync without --package installs the workspace root"
        names.update(chosen)
    return names


def copied_sources(path: Path) -> set[str]:
    """The folders under services/ the image copies in whole (pyproject.toml files aside)."""
    sources: set[str] = set()
    for keyword, rest in instructions(path):
        if keyword not in ("COPY", "ADD") or "--from" in rest:
            continue
        words = [w for w in rest.split() if not w.startswith("--")]
        for source in words[:-1]:
            if source.startswith("services") and not source.endswith("pyproject.toml"):
                sources.add(source.rstrip("/"))
    return sources


def command(path: Path) -> list[str]:
    cmd = [rest for keyword, rest in instructions(path) if keyword == "CMD"]
    assert cmd, f"{path.name}: no CMD"
    parsed = json.loads(cmd[-1])
    assert isinstance(parsed, list)
    return [str(a) for a in parsed]


def workspace_closure(distribution: str) -> set[str]:
    """The workspace packages that installing ``distribution`` installs, as uv.lock says."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    members = {p.distribution for p in packages()}
    depends = {
        entry["name"]: {d["name"] for d in entry.get("dependencies", [])} & members
        for entry in lock["package"]
        if entry["name"] in members
    }
    assert distribution in depends, f"{distribution} is not in uv.lock: run `uv lock`"
    seen: set[str] = set()
    todo = [distribution]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(depends[name])
    return seen


def test_every_service_has_its_image() -> None:
    assert SERVICES, "no service package"
    present = {p.name for p in DOCKER_DIR.glob("*.Dockerfile")}
    missing = [s for s in SERVICES if f"{s}.Dockerfile" not in present]
    assert not missing, f"no deploy/docker/<service>.Dockerfile for {missing}"


@pytest.mark.parametrize("service", SERVICES)
def test_an_image_installs_only_its_service_and_common(service: str) -> None:
    path = DOCKER_DIR / f"{service}.Dockerfile"
    assert installed(path) == {f"citela-{service}"}, f"{path.name} installs {installed(path)}"
    assert copied_sources(path) == {"services/common", f"services/{service}"}, (
        f"{path.name} copies {sorted(copied_sources(path))}"
    )
    closure = workspace_closure(f"citela-{service}")
    assert closure == {f"citela-{service}", COMMON}, (
        f"citela-{service} pulls {sorted(closure)} from the workspace (uv.lock)"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_an_image_runs_its_service_alone(service: str) -> None:
    cmd = command(DOCKER_DIR / f"{service}.Dockerfile")
    assert cmd[:3] == ["python", "-m", f"citela_{service}"], cmd
    main = ROOT / "services" / service / "src" / f"citela_{service}" / "__main__.py"
    assert main.is_file(), f"python -m citela_{service}: no {main.relative_to(ROOT)}"


def test_only_the_platform_image_holds_the_whole_platform() -> None:
    holders = sorted(p.name for p in DOCKER_DIR.glob("*.Dockerfile") if PLATFORM in installed(p))
    assert holders == ["platform.Dockerfile"], holders
    assert workspace_closure(PLATFORM) == {p.distribution for p in packages()}


def test_the_install_list_reader_sees_a_second_package(tmp_path: Path) -> None:
    dockerfile = tmp_path / "x.Dockerfile"
    dockerfile.write_text(
        "FROM python:3.11-slim\n"
        "COPY services/common/ services/common/\n"
        "COPY services/web/ services/web/\n"
        "COPY services/feedback/pyproject.toml services/feedback/pyproject.toml\n"
        "RUN uv sync --frozen --package citela-web \\\n    --package citela-feedback\n"
    )
    assert installed(dockerfile) == {"citela-web", "citela-feedback"}
    assert copied_sources(dockerfile) == {"services/common", "services/web"}
