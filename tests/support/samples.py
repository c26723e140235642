"""Where the recorded open-data samples are: ``tests/fixtures/opendata/<source>/`` in the repo
when it has them, else the shared copy beside the repo (``../shared/opendata-samples/``)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures" / "opendata"
SHARED_SAMPLES_DIR = REPO_ROOT.parent / "shared" / "opendata-samples"


def sample(source: str, name: str) -> Path:
    """The path of one sample file (e.g. ``sample("geo-api", "regions.json")``), taken from the
    repo's fixtures first, then from the shared samples; fails loudly when neither has it."""
    candidates = [FIXTURES_DIR / source / name, SHARED_SAMPLES_DIR / source / name]
    for path in candidates:
        if path.is_file():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(f"sample {source}/{name} not found (tried {tried})")
