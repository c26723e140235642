"""The project's labelled French comments (``data/comments_labelled.tsv``).

Columns: ``id``, ``text``, ``label`` (negative / neutral / positive), ``policy_area`` (a
``PolicyArea`` label of the ingest service), ``split`` (``tune`` or ``test``). The rules of
the built-in scorer are tuned on ``tune`` only; ``test`` is only measured
(see ``data/README.md``).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import Literal

from citela_common.events.models import SentimentLabel

Split = Literal["tune", "test"]
TUNE_FRACTION = 0.6
COLUMNS = ("id", "text", "label", "policy_area", "split")


@dataclass(frozen=True)
class LabelledComment:
    id: str
    text: str
    label: SentimentLabel
    policy_area: str
    split: Split


def labelled_path() -> resources.abc.Traversable:
    return resources.files("citela_analytics").joinpath("data", "comments_labelled.tsv")


def parse_tsv(content: str) -> list[LabelledComment]:
    lines = content.splitlines()
    if not lines or tuple(lines[0].split("\t")) != COLUMNS:
        raise ValueError(f"the labelled set must start with the header {COLUMNS}")
    out: list[LabelledComment] = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(COLUMNS):
            raise ValueError(f"line {n}: {len(cells)} cells, expected {len(COLUMNS)}")
        cid, text, label, area, split = cells
        if split not in ("tune", "test"):
            raise ValueError(f"line {n}: split {split!r} is neither 'tune' nor 'test'")
        out.append(LabelledComment(cid, text, SentimentLabel(label), area, split))  # type: ignore[arg-type]
    return out


def load_labelled(split: Split | None = None) -> list[LabelledComment]:
    """The shipped labelled comments, all of them or one split."""
    rows = parse_tsv(labelled_path().read_text(encoding="utf-8"))
    return [r for r in rows if split is None or r.split == split]


def assign_splits(
    rows: Sequence[LabelledComment], tune_fraction: float = TUNE_FRACTION
) -> list[LabelledComment]:
    """Stratified, deterministic split: within each (policy area, label) stratum, rows are
    ordered by SHA-256 of their id and the first ``round(n * tune_fraction)`` go to ``tune``.

    This is how the shipped file's ``split`` column was written, once, before any rule was
    tuned; it is kept to document (and re-check) that split, not to re-split."""
    strata: dict[tuple[str, str], list[LabelledComment]] = defaultdict(list)
    for r in rows:
        strata[(r.policy_area, r.label.value)].append(r)
    split_of: dict[str, Split] = {}
    for members in strata.values():
        ordered = sorted(members, key=lambda r: hashlib.sha256(r.id.encode()).hexdigest())
        k = round(len(ordered) * tune_fraction)
        for i, r in enumerate(ordered):
            split_of[r.id] = "tune" if i < k else "test"
    return [replace(r, split=split_of[r.id]) for r in rows]


def to_tsv(rows: Iterable[LabelledComment]) -> str:
    lines = ["\t".join(COLUMNS)]
    for r in rows:
        if "\t" in r.text or "\n" in r.text:
            raise ValueError(f"{r.id}: a text may hold neither a tab nor a newline")
        lines.append("\t".join((r.id, r.text, r.label.value, r.policy_area, r.split)))
    return "\n".join(lines) + "\n"
