"""Automatic pre-screening of French comments: insults and spam.

A cheap, explainable first pass: each flag says why (the reason and the words that matched),
so a moderator decides quickly. Matching folds accents and case, undoes common leetspeak
(``c0nn4rd``) and stretched letters (``connnnard``), and matches whole words, so « conseil »
or « constat » never trip on « con ».
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class FlagReason(StrEnum):
    INSULT = "insult"
    SPAM = "spam"


@dataclass(frozen=True)
class Flag:
    reason: FlagReason
    detail: str


@dataclass(frozen=True)
class Screening:
    flags: tuple[Flag, ...]

    @property
    def held(self) -> bool:
        return bool(self.flags)

    def reasons(self) -> list[str]:
        return sorted({f.reason.value for f in self.flags})


# Insults, slurs and crude abuse aimed at people; plain criticism (« nul », « lent »,
# « incompétent ») is feedback, not abuse, and is not listed.
INSULTS = frozenset(
    {
        "con",
        "conne",
        "connard",
        "connards",
        "connasse",
        "connasses",
        "salaud",
        "salauds",
        "salope",
        "salopes",
        "encule",
        "encules",
        "enculer",
        "enfoire",
        "enfoires",
        "batard",
        "batards",
        "pute",
        "putes",
        "abruti",
        "abrutis",
        "abrutie",
        "cretin",
        "cretins",
        "debile",
        "debiles",
        "imbecile",
        "imbeciles",
        "ordure",
        "ordures",
        "raclure",
        "raclures",
        "tocard",
        "tocards",
        "bouffon",
        "bouffons",
        "fainéant",
        "faineant",
        "faineants",
        "feignasse",
        "feignasses",
        "pd",
        "pede",
        "pedes",
        "tapette",
        "gouine",
        "negro",
        "negre",
        "bougnoule",
        "bougnoules",
        "youpin",
        "bicot",
        "niquer",
        "nique",
        "niquez",
        "fdp",
        "ntm",
        "merdeux",
        "merdeuse",
        "pourriture",
        "trouduc",
        "couillon",
        "couillons",
        "clochard",
        "clodo",
        "pouffiasse",
        "grognasse",
    }
)
INSULT_PHRASES = (
    "ta gueule",
    "ferme ta gueule",
    "fermez vos gueules",
    "trou du cul",
    "fils de pute",
    "nique ta mere",
    "va te faire",
    "allez vous faire",
    "bande de cons",
)
SPAM_WORDS = frozenset(
    {
        "casino",
        "viagra",
        "cialis",
        "bitcoin",
        "crypto",
        "cryptomonnaie",
        "forex",
        "porn",
        "porno",
        "xxx",
        "sexy",
        "escort",
        "whatsapp",
        "telegram",
        "promo",
        "promotion",
        "gagnez",
        "gratuit",
        "gratuite",
        "remise",
        "soldes",
        "bonus",
        "jackpot",
        "paris",
    }
)
SPAM_PHRASES = (
    "cliquez ici",
    "offre exclusive",
    "offre speciale",
    "pret rapide",
    "credit rapide",
    "argent facile",
    "gagner de l'argent",
    "investissement garanti",
    "travail a domicile",
    "code promo",
    "rencontre coquine",
)
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|net|org|biz|info|xyz|ru|io)\b", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "@": "a", "$": "s", "5": "s"})
_STRETCH = re.compile(r"(\w)\1+")
_WORDS = re.compile(r"[a-z']+")
_REPEATED_CHAR = re.compile(r"(.)\1{7,}")


# The combining marks NFKD leaves in French (and most Latin) text: removed by one regex pass;
# a text still not ASCII afterwards goes through unicodedata for any other mark.
_LATIN_MARKS = re.compile("[\u0300-\u036f]")


def fold(text: str) -> str:
    """Lowercase without accents, leetspeak undone, doubled letters single (« connnard »)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = _LATIN_MARKS.sub("", decomposed).replace("’", "'")
    if not plain.isascii():
        plain = "".join(c for c in plain if not unicodedata.combining(c))
    plain = plain.translate(_LEET)
    return _STRETCH.sub(r"\1", plain)


def _single(words: frozenset[str] | tuple[str, ...]) -> frozenset[str]:
    return frozenset(_STRETCH.sub(r"\1", w) for w in words)


_INSULTS = _single(INSULTS)
_INSULT_PHRASES = tuple(_STRETCH.sub(r"\1", p) for p in INSULT_PHRASES)
_SPAM_WORDS = _single(SPAM_WORDS)
_SPAM_PHRASES = tuple(_STRETCH.sub(r"\1", p) for p in SPAM_PHRASES)


def _words(folded: str) -> list[str]:
    return [w for token in _WORDS.findall(folded) for w in token.split("'") if w]


def screen(text: str | None) -> Screening:
    """Flags of one comment (empty when it looks fine)."""
    if not text or not text.strip():
        return Screening(())
    flags: list[Flag] = []
    folded = fold(text)
    words = _words(folded)
    joined = " " + " ".join(words) + " "

    insults = sorted({w for w in words if w in _INSULTS})
    insults += [p for p in _INSULT_PHRASES if f" {p} " in joined]
    if insults:
        flags.append(Flag(FlagReason.INSULT, ", ".join(dict.fromkeys(insults))))

    spam: list[str] = []
    urls = _URL.findall(_EMAIL.sub(" ", text))  # an email address is no link
    if urls:
        spam.append(f"link: {urls[0][:60]}")
    hits = sorted({w for w in words if w in _SPAM_WORDS} - {"paris"})  # a city more than a bet
    hits += [p for p in _SPAM_PHRASES if f" {p} " in joined]
    if len(hits) >= 2 or (hits and urls):
        spam.append("advertising: " + ", ".join(dict.fromkeys(hits)))
    if _REPEATED_CHAR.search(text):
        spam.append("repeated characters")
    if len(words) >= 8 and len(set(words)) <= len(words) // 4:
        spam.append("repeated words")
    letters = sum(c.isalpha() for c in text)
    if len(text) >= 20 and letters < len(text) * 0.3:
        spam.append("few letters")
    if spam:
        flags.append(Flag(FlagReason.SPAM, "; ".join(spam)))
    return Screening(tuple(flags))
