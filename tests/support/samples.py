"""Where the recorded open-data samples are: ``tests/fixtures/opendata/<source>/``, in the repo
(see its PROVENANCE.md); nothing is read from outside the repository."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures" / "opendata"


def sample(source: str, name: str) -> Path:
    """The path of one sample file (e.g. ``sample("geo-api", "regions.json")``); fails loudly
    when the repo's fixtures lack it."""
    path = FIXTURES_DIR / source / name
    if not path.is_file():
        raise FileNotFoundError(f"sample {source}/{name} not found in {FIXTURES_DIR}")
    return path
