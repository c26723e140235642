"""The workspace as its files say: its packages, their modules, imports and declared dependencies.

Read with ``ast`` and ``tomllib`` only (nothing is imported), so these checks see every
``import`` statement, at module level or inside a function, whether it runs or not.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES_DIR = ROOT / "services"


@dataclass(frozen=True)
class Import:
    """One imported module, by absolute dotted name, where it is imported."""

    module: str
    path: Path
    line: int
    in_function: bool

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Package:
    """A workspace member: ``services/<folder>``, distribution ``citela-<x>``, ``citela_<x>``."""

    folder: Path
    distribution: str
    import_name: str
    dependencies: tuple[str, ...]
    optional: dict[str, tuple[str, ...]] = field(hash=False)

    @property
    def source(self) -> Path:
        return self.folder / "src" / self.import_name

    def files(self) -> list[Path]:
        return sorted(self.source.rglob("*.py"))

    def module_of(self, path: Path) -> str:
        parts = list(path.relative_to(self.folder / "src").with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        return ".".join(parts)

    def modules(self) -> dict[str, Path]:
        return {self.module_of(path): path for path in self.files()}


def requirement_name(requirement: str) -> tuple[str, frozenset[str]]:
    """``"Celery[redis]>=5.4"`` -> ``("celery", {"redis"})``: the normalised name, its extras."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", requirement)
    assert match, f"not a requirement: {requirement!r}"
    extras = frozenset(e.strip().lower() for e in (match[2] or "").split(",") if e.strip())
    return re.sub(r"[-_.]+", "-", match[1]).lower(), extras


@cache
def packages() -> tuple[Package, ...]:
    """Every workspace member of the root pyproject.toml."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found: list[Package] = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for folder in sorted(ROOT.glob(pattern)):
            project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
            (import_name,) = [p.name for p in (folder / "src").iterdir() if p.is_dir()]
            found.append(
                Package(
                    folder=folder,
                    distribution=project["name"],
                    import_name=import_name,
                    dependencies=tuple(project.get("dependencies", [])),
                    optional={
                        extra: tuple(reqs)
                        for extra, reqs in project.get("optional-dependencies", {}).items()
                    },
                )
            )
    assert found, "no workspace member found"
    return tuple(found)


def _resolve(module: str | None, level: int, importer: str, is_package: bool) -> str:
    """The absolute name of ``from <level dots><module> import ...`` written in ``importer``."""
    if level == 0:
        assert module is not None
        return module
    base = importer.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, module] if module else base)


def imports_of(package: Package, path: Path) -> Iterator[Import]:
    """Every module ``path`` imports (``from a import b``: ``a.b`` when that is a module)."""
    importer = package.module_of(path)
    is_package = path.name == "__init__.py"
    known = all_modules()
    tree = ast.parse(path.read_text(), str(path))
    functions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, functions):
            inside.update(id(child) for child in ast.walk(node) if child is not node)
    for node in ast.walk(tree):
        in_function = id(node) in inside
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, path, node.lineno, in_function)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module, node.level, importer, is_package)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                target = candidate if candidate in known else base
                yield Import(target, path, node.lineno, in_function)


@cache
def all_modules() -> frozenset[str]:
    return frozenset(name for package in packages() for name in package.modules())


def third_party(imported: Import) -> bool:
    top = imported.top
    own = {package.import_name for package in packages()}
    return top not in sys.stdlib_module_names and top not in own and top != "__future__"
