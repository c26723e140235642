"""French full-text search, the embedded way: accents and case folded, words stemmed.

PostgreSQL does this itself (a ``french`` configuration with ``unaccent``); SQLite's FTS5 has
no French stemmer, so text is folded and stemmed here (Snowball, the algorithm PostgreSQL's
``french_stem`` uses) before it is indexed, and queries go through the same function.
"""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

from citela_common.text import fold_accents

_WORD = re.compile(r"[0-9a-zœæ]+")
# Elisions: l'accueil -> accueil, d'ouverture -> ouverture.
_ELISION = re.compile(r"\b(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu)['’]", re.IGNORECASE)
STOP_WORDS = frozenset(
    {
        "a",
        "au",
        "aux",
        "avec",
        "ce",
        "ces",
        "dans",
        "de",
        "des",
        "du",
        "elle",
        "en",
        "et",
        "eux",
        "il",
        "je",
        "la",
        "le",
        "les",
        "leur",
        "lui",
        "ma",
        "mais",
        "me",
        "meme",
        "mes",
        "moi",
        "mon",
        "ne",
        "nos",
        "notre",
        "nous",
        "on",
        "ou",
        "par",
        "pas",
        "pour",
        "qu",
        "que",
        "qui",
        "sa",
        "se",
        "ses",
        "son",
        "sur",
        "ta",
        "te",
        "tes",
        "toi",
        "ton",
        "tu",
        "un",
        "une",
        "vos",
        "votre",
        "vous",
        "c",
        "d",
        "j",
        "l",
        "m",
        "n",
        "s",
        "t",
        "y",
    }
)


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("french")


def fold(text: str) -> str:
    """Lower case without accents: "Médiathèque" -> "mediatheque"."""
    return fold_accents(text.lower())


def terms(text: str) -> list[str]:
    """Folded, stemmed, stop-word-free terms of a French text."""
    words = [w for w in _WORD.findall(fold(_ELISION.sub(" ", text))) if w not in STOP_WORDS]
    return [_stem(w) for w in words]


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    # The catalogue's vocabulary is small and Snowball is pure Python: stem each word once.
    return str(_stemmer().stemWord(word))


def index_text(*parts: str | None) -> str:
    return " ".join(t for part in parts if part for t in terms(part))


def fts5_query(query: str) -> str | None:
    """An FTS5 MATCH expression: every term must match, the last one as a prefix."""
    found = terms(query)
    if not found:
        return None
    quoted = [f'"{t}"' for t in found]
    quoted[-1] += "*"
    return " AND ".join(quoted)
