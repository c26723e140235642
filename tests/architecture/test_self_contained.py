"""Nothing in the repository reads or links outside it: no sibling folder of the clone, no
absolute path of one machine. (CI's fresh clone, .ci/fresh-clone.sh, catches what a
pattern cannot: it collects the tests in a clone with nothing beside it.)"""

from __future__ import annotations

import re
import subprocess

from tests.architecture.workspace import ROOT

# Spelled in parts so that this file does not itself hold the references it looks for.
_SIBLING = re.escape("..") + "/" + "shared"
_MACHINE_ROOTS = ("work", "home/" + r"\w+")
OUTSIDE = re.compile(
    _SIBLING + r"\b|" + "|".join(r"(?<![\w.])/" + root + "/" for root in _MACHINE_ROOTS)
)


def tracked_text_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [name for name in listed.split("\0") if name]


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
    sibling = ".." + "/" + "shared"
    machine = "/" + "work" + "/main"
    assert OUTSIDE.search(f"path = ROOT / '{sibling}/opendata-samples'")
    assert OUTSIDE.search(f"see {machine}/README.md")
    assert OUTSIDE.search("/" + "home" + "/alice/citela")
    assert not OUTSIDE.search("docs/architecture.md and services/common/src/")
    assert not OUTSIDE.search("https://example.org" + machine)
