"""Text helpers shared by every service that compares French words."""

from __future__ import annotations

import unicodedata


def fold_accents(text: str) -> str:
    """``text`` without its combining marks (« Hôtel-de-Ville » → « Hotel-de-Ville »).

    Case and other characters are kept: callers lower-case or strip as their matching needs.
    """
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))
