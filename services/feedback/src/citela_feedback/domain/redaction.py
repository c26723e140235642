"""Redaction of the personal data citizens type into comments.

What leaves the service (events, staff views, quotes) carries the redacted text; the original
stays in the feedback store for its author only. Redacted: email addresses, phone numbers
(French and international), IBAN-like account numbers, long identification numbers (NIR,
card numbers) and postal addresses (« 12 bis rue de la Paix, 64000 Pau »). Each is replaced
by a French placeholder, so a reader still understands the sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EMAIL = "[courriel masqué]"
PHONE = "[téléphone masqué]"
IBAN = "[IBAN masqué]"
NUMBER = "[numéro masqué]"
ADDRESS = "[adresse masquée]"

_EMAIL = re.compile(
    r"[\w.+-]+\s*(?:@|\(at\)|\[at\]|\s+arobase\s+)\s*[\w-]+(?:\s*(?:\.|\(dot\)|\[dot\])\s*[\w-]+)+",
    re.IGNORECASE,
)
_IBAN = re.compile(
    r"(?<![\w])[A-Z]{2}\d{2}(?:[ .-]?[A-Z0-9]{4}){2,7}(?:[ .-]?[A-Z0-9]{1,4})?(?![\w])",
    re.IGNORECASE,
)
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)\s?33\s?(?:\(0\)\s?)?|0)[1-9](?:[\s.\-]?\d{2}){4}(?!\d)"
    r"|(?<![\w+])\+\d{1,3}(?:[\s.\-]?\d){6,13}(?!\d)"
)
_DIGIT = re.compile(r"\d")
_AT_WORDS = re.compile(r"\(at\)|\[at\]|arobase", re.IGNORECASE)
_LONG_NUMBER = re.compile(r"(?<!\d)\d(?:[\s.\-]?\d){10,}(?!\d)")

_STREET_TYPES = (
    "rue|avenue|av|bd|bld|boulevard|place|pl|chemin|ch|impasse|imp|allée|allee|all|route|rte|"
    "quai|cours|square|sq|passage|cité|cite|lotissement|lot|résidence|residence|hameau|"
    "lieu-dit|lieudit|chaussée|chaussee|voie|sentier|rond-point|esplanade|parvis|promenade|"
    "faubourg|fg|montée|montee|traverse|villa|ruelle|domaine|clos|mail|square"
)
# A number not preceded by a letter or digit: written ``\d(?<!\w\d)`` rather than
# ``(?<![\w])\d`` so that the pattern starts with a digit and the engine skips to digits.
_ADDRESS_ANCHOR = re.compile(
    r"\d(?<!\w\d)\d{0,3}(?:\s?(?:bis|ter|quater|[a-d])(?![\w]))?\s*,?\s+"
    rf"(?:{_STREET_TYPES})\.?(?=\s)",
    re.IGNORECASE,
)
_PARTICLES = {
    "de",
    "du",
    "des",
    "la",
    "le",
    "les",
    "l",
    "d",
    "aux",
    "au",
    "à",
    "a",
    "sur",
    "en",
    "saint",
    "sainte",
    "st",
    "ste",
    "et",
    "grand",
    "grande",
    "petit",
    "petite",
    "vieux",
    "vieille",
    "général",
    "general",
    "maréchal",
    "marechal",
    "docteur",
    "dr",
    "président",
    "president",
}
_STOP = {
    "et",
    "mais",
    "ou",
    "où",
    "pour",
    "car",
    "donc",
    "qui",
    "que",
    "qu",
    "est",
    "sont",
    "depuis",
    "avec",
    "il",
    "elle",
    "je",
    "j",
    "on",
    "nous",
    "vous",
    "ils",
    "elles",
    "c",
    "ce",
    "mon",
    "ma",
    "mes",
    "ai",
    "avons",
    "était",
    "etait",
    "personne",
    "rien",
    "pas",
    "ne",
    "n",
    "y",
    "sans",
    "chez",
    "près",
    "pres",
    "devant",
    "derrière",
    "quand",
    "si",
    "alors",
    "puis",
    "me",
    "m",
    "se",
    "s",
    "leur",
    "leurs",
    "notre",
    "votre",
    "très",
    "tres",
    "trop",
    "plus",
    "moins",
    "toujours",
    "jamais",
    "merci",
}
_WORD = re.compile(r"\s*([\w'’\-]+)")
_TAIL = re.compile(r"\s*,?\s*\d{5}(?:\s+[A-ZÀ-Ý][\w'’\-]*(?:[\s\-][A-ZÀ-Ý][\w'’\-]*){0,3})?")


@dataclass(frozen=True)
class Redacted:
    text: str
    kinds: frozenset[str]

    @property
    def changed(self) -> bool:
        return bool(self.kinds)


def _street_name_end(text: str, start: int) -> int:
    """Where the street name that starts at ``start`` ends (at most six words)."""
    end = start
    pos = start
    taken = 0
    while taken < 6:
        match = _WORD.match(text, pos)
        if match is None:
            break
        word = match.group(1)
        bare = word.lower().rstrip("'’")
        for apostrophe in ("'", "’"):
            if apostrophe in bare:
                bare = bare.split(apostrophe, 1)[0]
        if bare in _STOP and taken > 0:
            break
        if not (word[0].isupper() or word[0].isdigit() or bare in _PARTICLES or taken < 2):
            break
        pos = match.end()
        if bare not in _PARTICLES:
            end = pos
        taken += 1
    tail = _TAIL.match(text, end)
    return tail.end() if tail else end


def _addresses(text: str) -> tuple[str, bool]:
    out: list[str] = []
    pos = 0
    found = False
    for match in _ADDRESS_ANCHOR.finditer(text):
        if match.start() < pos:
            continue
        end = _street_name_end(text, match.end())
        if end == match.end():
            continue  # "3 rue" alone is no address
        out.append(text[pos : match.start()])
        out.append(ADDRESS)
        pos = end
        found = True
    out.append(text[pos:])
    return "".join(out), found


def _iban_like(match: re.Match[str]) -> bool:
    return sum(c.isdigit() for c in match.group(0)) >= 8


# Digits (``\d``) each pattern needs at least: with fewer in the text it cannot match.
_IBAN_DIGITS = 8  # what _iban_like asks of a match (its other characters are letters)
_PHONE_DIGITS = 7  # « +33 » and 7 digits, or a leading digit and 8 more
_LONG_NUMBER_DIGITS = 11


def _may_hold_email(text: str) -> bool:
    """False when _EMAIL cannot match: no at sign, spelled or not (letters case-folded as the
    pattern's IGNORECASE does)."""
    if "@" in text:
        return True
    if "(" not in text and "[" not in text and "arobase" not in text.casefold():
        return False
    return _AT_WORDS.search(text) is not None


def redact(text: str) -> Redacted:
    """The text with personal data replaced by placeholders, and which kinds were found."""
    kinds: set[str] = set()

    def sub(pattern: re.Pattern[str], placeholder: str, kind: str, value: str) -> str:
        def repl(match: re.Match[str]) -> str:
            if pattern is _IBAN and not _iban_like(match):
                return match.group(0)
            kinds.add(kind)
            return placeholder

        return pattern.sub(repl, value)

    value = text
    # Cheap tests first: most comments hold no address, phone or account number (all need
    # digits, some many) and no email address (it needs an at sign, or a spelled one).
    if _may_hold_email(value):
        value = sub(_EMAIL, EMAIL, "email", value)
    if _DIGIT.search(value):
        # Placeholders hold no digit: the count only falls as patterns are replaced.
        digits = len(_DIGIT.findall(value))
        if digits >= _IBAN_DIGITS:
            value = sub(_IBAN, IBAN, "iban", value)
        if digits >= _PHONE_DIGITS:
            value = sub(_PHONE, PHONE, "phone", value)
        if digits >= _LONG_NUMBER_DIGITS:
            value = sub(_LONG_NUMBER, NUMBER, "number", value)
        value, had_address = _addresses(value)
        if had_address:
            kinds.add("address")
    return Redacted(value, frozenset(kinds))
