"""Text helpers shared by every service that compares French words."""

from __future__ import annotations

import re
import unicodedata

# The combining marks NFKD leaves in French (and most Latin) text: one regex pass removes
# them, twice as fast as asking unicodedata about each character.
_LATIN_MARKS = re.compile("[\u0300-\u036f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _unless_mark(match: re.Match[str]) -> str:
    char = match.group(0)
    return "" if unicodedata.combining(char) else char


def fold_accents(text: str) -> str:
    """``text`` without its combining marks (« Hôtel-de-Ville » → « Hotel-de-Ville »).

    Case and other characters are kept: callers lower-case or strip as their matching needs.
    """
    if text.isascii():
        return text
    plain = _LATIN_MARKS.sub("", unicodedata.normalize("NFKD", text))
    if plain.isascii():
        return plain
    # « », œ, °, other scripts: only the combining marks outside the Latin block go.
    return _NON_ASCII.sub(_unless_mark, plain)
