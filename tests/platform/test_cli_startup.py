"""The `citela` command line imports a service only for a command of that service.

`citela --help` imported every service (SQLAlchemy models, FastAPI apps, the sentiment
backends): 6 s on an idle host, 23 s on a loaded one. These tests run the real command in a
fresh interpreter with ``-X importtime`` and read which packages it imported. Its speed is
measured by ``bench/cli_startup.py``, not asserted here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from citela_platform import cli
from citela_platform.lazy_cli import Lazy, load
from citela_platform.services import SERVICE_NAMES

SERVICE_PACKAGES = {
    "citela_ingest",
    "citela_catalogue",
    "citela_feedback",
    "citela_analytics",
    "citela_web",
}
HEAVY = {"sqlalchemy", "fastapi", "uvicorn", "torch", "transformers", "alembic", "celery"}
TIMEOUT_S = 120  # a cold interpreter on a loaded CI host; the service commands import a service


def imported_by(*args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """The top-level packages `citela <args>` imports, and what it printed on stdout."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "citela_platform.cli", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    packages = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    packages.discard("imported package")  # the header line
    assert "citela_platform" in packages, done.stderr[-2000:]
    return packages, done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["migrate", "--help"],
        ["serve", "--help"],
        ["worker", "--help"],
        ["events", "--help"],
        ["events", "dlq", "--help"],
    ],
    ids=" ".join,
)
def test_the_platform_help_imports_no_service(args: list[str]) -> None:
    packages, out = imported_by(*args)
    assert "Usage:" in out
    assert not packages & (SERVICE_PACKAGES | HEAVY), sorted(packages & (SERVICE_PACKAGES | HEAVY))


def test_the_listing_names_every_command_with_its_help() -> None:
    _, out = imported_by("--help")
    for name, lazy in cli.SERVICE_COMMANDS.items():
        assert f" {name} " in out
        assert lazy.help.split()[0] in out
    for name in ("run", "demo", "serve", "worker", "migrate", "events"):
        assert f" {name} " in out


@pytest.mark.parametrize(
    ("args", "package"),
    [
        (["ingest", "--help"], "citela_ingest"),
        (["tenant-create", "--help"], "citela_feedback"),
        (["analytics", "--help"], "citela_analytics"),
        (["analytics", "recompute", "--help"], "citela_analytics"),
    ],
    ids=" ".join,
)
def test_a_service_command_imports_its_service_only(args: list[str], package: str) -> None:
    packages, out = imported_by(*args)
    assert "Usage:" in out
    assert package in packages
    assert not packages & (SERVICE_PACKAGES - {package}), sorted(packages & SERVICE_PACKAGES)


def test_migrate_imports_only_the_services_it_migrates(tmp_path: Path) -> None:
    # The embedded mode (SQLite under CITELA_DATA_DIR): the session took the ambient URLs away.
    packages, out = imported_by(
        "migrate", "catalogue", env={"CITELA_DATA_DIR": str(tmp_path / "var")}
    )
    assert out.splitlines() == ["catalogue: à jour"]
    assert not packages & (SERVICE_PACKAGES - {"citela_catalogue"})


def lazy_tables() -> dict[str, dict[str, Lazy]]:
    return {"citela": cli.SERVICE_COMMANDS, "citela events": cli.EVENTS_COMMANDS}


def test_each_lazy_command_is_listed_with_its_own_help() -> None:
    """The listing's help is written beside the name: it must stay the command's own."""
    for group, table in lazy_tables().items():
        for name, lazy in table.items():
            command = load(name, lazy)
            first = (command.help or "").split("\n\n")[0]
            assert " ".join(first.split()) == lazy.help, f"`{group} {name}`: help differs"


def test_every_command_a_module_registers_is_listed() -> None:
    """A command added to a service's `register` needs its line in the lazy table too."""
    for group, table in lazy_tables().items():
        for module in {lazy.module for lazy in table.values() if lazy.attribute == "register"}:
            holder = typer.Typer()
            __import__(module, fromlist=["register"]).register(holder)
            defined = set(typer.main.get_group(holder).commands)
            listed = {n for n, lazy in table.items() if lazy.module == module}
            assert defined == listed, f"{module}: list {sorted(defined - listed)} in `{group}`"


def test_the_commands_resolve_and_the_names_agree() -> None:
    from citela_common.serving import HEALTHCHECK_TIMEOUT_S
    from citela_platform.registry import SERVICES

    group = typer.main.get_command(cli.app)
    ctx = typer.Context(group)
    names = set(group.list_commands(ctx))  # type: ignore[attr-defined]
    assert names >= set(cli.SERVICE_COMMANDS) | {"run", "serve", "migrate", "events"}
    for name in names:
        assert group.get_command(ctx, name) is not None  # type: ignore[attr-defined]
    assert tuple(SERVICES) == SERVICE_NAMES
    assert cli.HEALTHCHECK_TIMEOUT_S == HEALTHCHECK_TIMEOUT_S
