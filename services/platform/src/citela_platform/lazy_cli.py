"""Command groups whose commands are imported only when they run.

``citela --help`` used to import every service (SQLAlchemy models, FastAPI apps, the sentiment
backends…): 6 s on an idle host, 23 s on a loaded one, for a page of text. A group made by
:func:`lazy_group` lists some of its commands by name and first help paragraph only, both
written here; the command's module is imported when that command is run (or asked for its own
``--help``), so each command imports what it needs and nothing else.

A lazy command's module exposes either ``register(app)``, adding its commands to a typer app
(the services' ``cli`` modules), or a ``typer.Typer`` (a group). Click's documentation calls this
"lazily loading subcommands"; ``tests/platform/test_cli_startup.py`` checks that what is listed
here matches what the modules define.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

__all__ = ["Lazy", "LazyGroup", "lazy_group", "load"]


@dataclass(frozen=True)
class Lazy:
    """A command known by name until it runs.

    ``module`` holds it, ``attribute`` (in that module) is a ``register(app)`` function or a
    ``typer.Typer``; ``help`` is the first paragraph of its help, shown in the group's listing
    (a test keeps it equal to the command's own); ``group``: a command group, listed after the
    plain commands as typer lists them.
    """

    module: str
    help: str
    attribute: str = "register"
    group: bool = False


class _Pending(TyperCommand):
    """Stands in for a lazy command in its group's listing and completion: name and help only."""

    def __init__(self, name: str, lazy: Lazy) -> None:
        super().__init__(name=name, help=lazy.help)
        self.lazy = lazy

    def invoke(self, ctx: Any) -> Any:  # pragma: no cover - get_command replaces us
        raise RuntimeError(f"{self.name}: lazy command invoked before it was loaded")


_loaded: dict[tuple[str, str], Mapping[str, Any]] = {}


def load(name: str, lazy: Lazy) -> Any:
    """Import ``lazy``'s module and build its click command ``name`` (once per module)."""
    key = (lazy.module, lazy.attribute)
    if key not in _loaded:
        target = getattr(import_module(lazy.module), lazy.attribute)
        if isinstance(target, typer.Typer):
            holder = typer.Typer()
            holder.add_typer(target, name=name)
        else:
            holder = typer.Typer()
            register: Callable[[typer.Typer], None] = target
            register(holder)
        _loaded[key] = typer.main.get_group(holder).commands
    commands = _loaded[key]
    if name not in commands:
        raise LookupError(f"{lazy.module}.{lazy.attribute} defines no command {name!r}")
    return commands[name]


class LazyGroup(TyperGroup):
    """A typer group whose ``lazy`` commands are imported on first use (see the module doc)."""

    lazy: Mapping[str, Lazy] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        own = dict(self.commands)
        pending = {name: _Pending(name, lazy) for name, lazy in self.lazy.items()}
        # typer's order: plain commands first, then groups.
        self.commands = {
            **{name: cmd for name, cmd in pending.items() if not cmd.lazy.group},
            **own,
            **{name: cmd for name, cmd in pending.items() if cmd.lazy.group},
        }
        self._listing = False

    @contextmanager
    def _names_only(self) -> Iterator[None]:
        listing, self._listing = self._listing, True
        try:
            yield
        finally:
            self._listing = listing

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if isinstance(command, _Pending) and not self._listing:
            command = self.commands[cmd_name] = load(cmd_name, command.lazy)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with self._names_only():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: Any, incomplete: str) -> Any:
        with self._names_only():
            return super().shell_complete(ctx, incomplete)


def lazy_group(commands: Mapping[str, Lazy]) -> type[LazyGroup]:
    """The group class to pass as ``typer.Typer(cls=...)`` for these lazy commands."""
    return type("LazyGroup", (LazyGroup,), {"lazy": dict(commands)})
