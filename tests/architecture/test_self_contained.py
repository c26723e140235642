"""Nothing in the repository reads or links outside it: no sibling folder (``../shared``),
no absolute path of one machine. (CI's fresh clone, .ci/fresh-clone.sh, catches what a
pattern cannot: it collects the tests in a clone with nothing beside it.)"""

from __future__ import annotations

import re
import subprocess

from tests.architecture.workspace import ROOT

OUTSIDE = re.compile(r"\.\./shared\b|(?<![\w.])/work/|(?<![\w.])/home/\w+/")
THIS = "tests/architecture/test_self_contained.py"


def tracked_text_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and name != THIS]


def test_no_reference_outside_the_repository() -> None:
    found: list[str] = []
    for name in tracked_text_files():
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the working tree, not yet committed
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images and other binary files
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not found, "references outside the repository:\n  " + "\n  ".join(found)


def test_the_pattern_sees_what_it_should() -> None:
    assert OUTSIDE.search("path = ROOT / '../shared/opendata-samples'")
    assert OUTSIDE.search("see /work/main/README.md")
    assert not OUTSIDE.search("docs/architecture.md and services/common/src/")
    assert not OUTSIDE.search("https://example.org/work/x")
