"""Each workspace package declares the third-party distributions it imports, and only those.

A package's ``[project] dependencies`` are what its own source imports (``ast``, every
``import`` statement, module level or not), plus a few distributions nothing imports by name
but the code needs at run time, each declared where its need shows in the source. What a
package gets through another workspace package does not count: ``citela-ingest`` imports
``sqlalchemy``, so it declares it, even though ``citela-common`` brings it too.
"""

from __future__ import annotations

import re

import pytest

from tests.architecture.workspace import (
    Package,
    imports_of,
    packages,
    requirement_name,
    third_party,
)

# Distributions whose import name is not their name with "-" as "_".
IMPORT_NAMES: dict[str, frozenset[str]] = {
    "pyjwt": frozenset({"jwt"}),
    "argon2-cffi": frozenset({"argon2"}),
    "kafka-python": frozenset({"kafka"}),
    "typing-extensions": frozenset({"typing_extensions"}),
}

# Needed at run time, imported by nobody by name: (why, what in the source shows the need).
RUNTIME_ONLY: dict[str, tuple[str, re.Pattern[str]]] = {
    "email-validator": ("pydantic's EmailStr validates with it", re.compile(r"\bEmailStr\b")),
    "python-multipart": (
        "FastAPI reads form bodies with it",
        re.compile(r"\bForm\(|\.form\(\)"),
    ),
    "tzdata": (
        "zoneinfo's time zones on hosts without a system database (slim images, Windows)",
        re.compile(r"\bZoneInfo\b"),
    ),
    "crc32c": (
        "kafka-python checks record batches' CRC-32C in C with it, in Python without",
        re.compile(r"^\s*(from|import) kafka\b", re.MULTILINE),
    ),
}


def import_names(distribution: str, extras: frozenset[str]) -> frozenset[str]:
    names = IMPORT_NAMES.get(distribution, frozenset({distribution.replace("-", "_")}))
    return names | {extra.replace("-", "_") for extra in extras if extra == "redis"}


def workspace_distributions() -> set[str]:
    return {requirement_name(p.distribution)[0] for p in packages()}


def source_text(package: Package) -> str:
    return "\n".join(path.read_text() for path in package.files())


def imported_third_party(package: Package) -> dict[str, list[str]]:
    """Top-level third-party import name -> where it is imported."""
    found: dict[str, list[str]] = {}
    for path in package.files():
        for imported in imports_of(package, path):
            if third_party(imported):
                found.setdefault(imported.top, []).append(imported.where())
    return found


def declared(package: Package) -> dict[str, frozenset[str]]:
    """Each declared third-party distribution and the import names it provides."""
    own = workspace_distributions()
    result: dict[str, frozenset[str]] = {}
    for requirement in package.dependencies:
        name, extras = requirement_name(requirement)
        if name not in own:
            result[name] = import_names(name, extras)
    return result


PACKAGES = {p.distribution: p for p in packages()}


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_every_import_is_declared(name: str) -> None:
    package = PACKAGES[name]
    provided = set().union(*declared(package).values())
    missing = {
        top: where for top, where in imported_third_party(package).items() if top not in provided
    }
    assert not missing, f"{name} imports what its pyproject.toml does not declare: " + "; ".join(
        f"{top} ({', '.join(where[:3])})" for top, where in sorted(missing.items())
    )


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_every_declaration_is_used(name: str) -> None:
    package = PACKAGES[name]
    imported = set(imported_third_party(package))
    text = source_text(package)
    unused: list[str] = []
    for distribution, names in declared(package).items():
        if distribution in RUNTIME_ONLY:
            why, need = RUNTIME_ONLY[distribution]
            if not need.search(text):
                unused.append(f"{distribution} (runtime-only: {why}; nothing here needs it)")
        elif not names & imported:
            unused.append(distribution)
    assert not unused, f"{name} declares what it does not use: {', '.join(unused)}"


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_runtime_needs_are_declared(name: str) -> None:
    package = PACKAGES[name]
    text = source_text(package)
    names = set(declared(package))
    missing = [
        f"{distribution} ({why})"
        for distribution, (why, need) in RUNTIME_ONLY.items()
        if need.search(text) and distribution not in names
    ]
    assert not missing, f"{name} needs at run time, undeclared: {', '.join(missing)}"


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_optional_dependencies_are_loaded_by_the_source(name: str) -> None:
    """An extra's distributions are imported (often lazily, by name) somewhere in the source."""
    package = PACKAGES[name]
    text = source_text(package)
    imported = set(imported_third_party(package))
    for extra, requirements in package.optional.items():
        for requirement in requirements:
            distribution, extras = requirement_name(requirement)
            names = import_names(distribution, extras)
            loaded = names & imported or any(
                re.search(rf"[\"']{re.escape(n)}[\"']", text) for n in names
            )
            assert loaded, f"{name}[{extra}]: nothing loads {distribution}"


def test_the_mapping_knows_the_usual_suspects() -> None:
    assert import_names("pyjwt", frozenset()) == {"jwt"}
    assert import_names("celery", frozenset({"redis"})) == {"celery", "redis"}
    assert import_names("psycopg", frozenset({"binary"})) == {"psycopg"}
    assert import_names("pydantic-settings", frozenset()) == {"pydantic_settings"}
    assert import_names("prometheus-client", frozenset()) == {"prometheus_client"}
    assert requirement_name("Celery[redis]>=5.4") == ("celery", frozenset({"redis"}))
    assert requirement_name("uvicorn[standard] >= 0.32") == ("uvicorn", frozenset({"standard"}))
