"""French text plumbing for the lexicon scorer: folding, tokenising, lemma-lite variants.

* ``fold``: lower case, accents removed (``é`` → ``e``, ``œ`` → ``oe``), typographic
  apostrophes and dashes made plain, so "Fermée", "fermee" and "FERMÉE" look the same.
* ``tokenize``: words and clause boundaries. An apostrophe splits a word, so elisions become
  their own token (``l'accueil`` → ``l accueil``, ``n'est`` → ``n est``, ``qu'on`` →
  ``qu on``); the lexicons are tokenised the same way, so "temps d'attente" matches.
  Hyphens split too (``rendez-vous`` → ``rendez vous``). A few SMS spellings are expanded
  (``tjrs`` → ``toujours``, ``bcp`` → ``beaucoup``, ``rdv`` → ``rendez vous``…).
* ``variants``: the candidate lemmas of a word, most specific first (the word itself, then
  singular, masculine, infinitive… forms): lexicon entries are mostly masculine singular
  adjectives or infinitives, comments are not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from citela_common.text import fold_accents

_APOSTROPHES = str.maketrans(
    {
        "’": "'",
        "ʼ": "'",
        "‘": "'",
        "`": "'",
        "´": "'",
        "–": "-",
        "—": "-",
        "‑": "-",
        "œ": "oe",
        "æ": "ae",
        "«": '"',
        "»": '"',
        "\u00a0": " ",  # no-break space
        "\u202f": " ",  # narrow no-break space
    }
)

# Clause boundaries: a sentence end or a clause break. "…" is folded to "..." first.
BOUNDARY_CHARS = '.!?;:,()"\n'
SENTENCE_END = frozenset({".", "!", "?", ";", "\n"})

_TOKEN_RE = re.compile(r"[a-z0-9]+|[.!?;:,()\"\n]")

# SMS / chat spellings → words (after folding). A value may hold several words.
SMS: dict[str, tuple[str, ...]] = {
    "tjrs": ("toujours",),
    "tjr": ("toujours",),
    "tjs": ("toujours",),
    "bcp": ("beaucoup",),
    "pr": ("pour",),
    "ms": ("mais",),
    "mm": ("meme",),
    "mme": ("meme",),
    "pb": ("probleme",),
    "pbs": ("problemes",),
    "pbm": ("probleme",),
    "rdv": ("rendez", "vous"),
    "rdvs": ("rendez", "vous"),
    "qd": ("quand",),
    "pk": ("pourquoi",),
    "pq": ("pourquoi",),
    "jsuis": ("je", "suis"),
    "chui": ("je", "suis"),
    "jsui": ("je", "suis"),
    "chuis": ("je", "suis"),
    "jpeux": ("je", "peux"),
    "svp": ("s", "il", "vous", "plait"),
    "stp": ("s", "il", "te", "plait"),
    "dc": ("donc",),
    "tt": ("tout",),
    "tte": ("toute",),
    "ttes": ("toutes",),
    "ds": ("dans",),
    "ns": ("nous",),
    "vs": ("vous",),
    "nn": ("non",),
    "aprem": ("apres", "midi"),
    "aprems": ("apres", "midi"),
    "ptn": ("putain",),
    "pro": ("professionnel",),
    "pros": ("professionnels",),
    "dispo": ("disponible",),
    "dispos": ("disponibles",),
    "sympa": ("sympathique",),
    "sympas": ("sympathiques",),
    "ya": ("il", "y", "a"),
    "jamai": ("jamais",),
    "tro": ("trop",),
    "vrmt": ("vraiment",),
    "vraimen": ("vraiment",),
    "mtn": ("maintenant",),
    "auj": ("aujourd", "hui"),
    "slt": ("salut",),
    "bjr": ("bonjour",),
    "cc": ("coucou",),
    "koi": ("quoi",),
    "ki": ("qui",),
    "ke": ("que",),
    "kan": ("quand",),
    "bi1": ("bien",),
    "b1": ("bien",),
}


def fold(text: str) -> str:
    """Lower case, no accents, plain apostrophes and dashes."""
    return fold_accents(text.translate(_APOSTROPHES).replace("…", "...").lower())


@dataclass(frozen=True)
class Token:
    text: str  # folded word, or a boundary character
    boundary: bool  # a punctuation mark that ends a clause
    start: int  # index in the folded text (for debugging)

    @property
    def sentence_end(self) -> bool:
        return self.text in SENTENCE_END


def tokenize(text: str) -> list[Token]:
    """Words and boundaries of ``text`` (folded). Apostrophes and hyphens split words."""
    folded = fold(text)
    out: list[Token] = []
    for m in _TOKEN_RE.finditer(folded):
        t = m.group(0)
        if t in SMS:
            out.extend(Token(w, False, m.start()) for w in SMS[t])
        else:
            out.append(Token(t, t in BOUNDARY_CHARS, m.start()))
    return out


def words(text: str) -> list[str]:
    """The folded words of ``text``, without boundaries (how lexicon entries are keyed)."""
    return [t.text for t in tokenize(text) if not t.boundary]


_PLURAL: tuple[tuple[str, str], ...] = (("eaux", "eau"), ("aux", "al"), ("s", ""), ("x", ""))
_FEMININE: tuple[tuple[str, str], ...] = (
    ("euse", "eux"),
    ("trice", "teur"),
    ("ive", "if"),
    ("elle", "el"),
    ("enne", "en"),
    ("ette", "et"),
    ("ere", "er"),
    ("ale", "al"),
    ("e", ""),
)
# verbs: plural, imperfect, participle, 3rd singular → 3rd singular / infinitive
_VERB: tuple[tuple[str, str], ...] = (
    ("aient", "er"),
    ("ait", "er"),
    ("issent", "ir"),
    ("ient", "enir"),
    ("dent", "dre"),
    ("ee", "er"),
    ("ent", "e"),
    ("ent", ""),
    ("ons", "er"),
    ("ez", "er"),
    ("ds", "dre"),
    ("d", "dre"),
    ("it", "ir"),
    ("e", "er"),
)


def _strip(word: str, rules: tuple[tuple[str, str], ...]) -> list[str]:
    out = []
    for suffix, repl in rules:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            out.append(word[: len(word) - len(suffix)] + repl)
    return out


@lru_cache(maxsize=65536)
def variants(word: str) -> tuple[str, ...]:
    """``word`` then its candidate lemmas, most specific first: singular, then masculine
    singular, then verb forms (``fermees`` → ``fermee``, ``ferme``; ``courtes`` →
    ``courte``, ``court``; ``repondent`` → ``reponde``, ``repond``; ``plante`` →
    ``planter``).

    Short words (function words) have no variants, so ``pas`` never becomes ``pa``."""
    if len(word) <= 3 or word.isdigit():
        return (word,)
    out = [word]
    singulars = [word, *_strip(word, _PLURAL)]
    for s in singulars[1:]:
        out.append(s)
    for s in singulars:
        out.extend(_strip(s, _FEMININE))
    for s in list(out):
        out.extend(_strip(s, _VERB))
    seen: dict[str, None] = {}
    for v in out:
        seen.setdefault(v, None)
    return tuple(seen)
