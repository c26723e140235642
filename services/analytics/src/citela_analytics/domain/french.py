"""French words for theme extraction: tokens, elisions, stop words, light plural folding."""

from __future__ import annotations

import re
import unicodedata

# Letters (accents included), digits, inner hyphens ("rendez-vous", "Saint-Jean"); an elided
# article or pronoun ("l'", "d'", "qu'") is its own token, apostrophe kept.
_TOKEN = re.compile(
    r"aujourd'hui|quelqu'une?|[^\W\d_]+'(?=[^\W\d_])|[^\W_]+(?:-[^\W_]+)*", re.IGNORECASE
)

ELISIONS = frozenset({"l'", "d'", "j'", "m'", "n'", "s'", "t'", "c'", "qu'", "jusqu'", "lorsqu'"})

# Grammatical words: never the start or the end of a theme.
STOP_WORDS = frozenset(
    """
    a à ai aie aient aies ait alors as au aucun aucune aussi autre autres aux avais avait
    avaient avec avez avions avoir avons ayant bon bonne c ça car ce ceci cela celle celles
    celui cependant certain certaines certains ces cet cette ceux chaque chez ci comme
    comment d dans de des depuis donc dont du elle elles en encore entre es est et étaient
    était étant été être eu eux faire fait fais faut font fut hors ici il ils j je jusqu l
    la là laquelle le lequel les lesquels leur leurs lors lorsque lui m ma mais me même
    mêmes mes moi mon n ne ni nos notre nous on ont or ou où par parce pas pendant peu peut
    peuvent plus pour pourquoi puis qu quand que quel quelle quelles quels qui quoi s sa
    sans se selon ses si sien soi soit sommes son sont sous suis sur t ta te tes toi ton
    tous tout toute toutes tu un une unes uns vers via vos votre vous y cet cette cela
    ceux-ci celles-ci celui-ci celle-ci ceux-là
    """.split()  # noqa: SIM905 - a word list reads better as text
)

# Words of judgement or degree: they carry sentiment, not a theme ("très", "vraiment"…).
EVALUATIVE = frozenset(
    """
    bien mal très trop vraiment assez beaucoup toujours jamais souvent parfois rien super
    génial excellent excellente parfait parfaite nul nulle nuls horrible honteux honteuse
    merci bravo top pire mieux meilleur meilleure moins déçu déçue déçus content contente
    contents satisfait satisfaite satisfaits insatisfait mauvais mauvaise agréable
    désagréable franchement juste seulement déjà aujourd'hui hier demain fois chose choses
    gens personne quelqu'un quelque quelques cas an ans plusieurs vraie vrai grand grande
    petit petite long longue longs longues court courte courts courtes lent lente lents
    lentes
    """.split()  # noqa: SIM905 - a word list reads better as text
)

# Elided articles, prepositions and conjunctions that may sit inside a phrase
# ("temps d'attente", "prise de rendez-vous", "accueil au guichet").
LINKS = frozenset({"de", "d'", "du", "des", "la", "le", "l'", "les", "à", "au", "aux", "en"})


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return text.replace("’", "'").replace("ʼ", "'").replace("`", "'")


def tokens(text: str) -> list[str]:
    """Lower-cased tokens, elisions split off: "L'accueil" → ["l'", "accueil"]."""
    return [m.group(0).lower() for m in _TOKEN.finditer(normalise(text))]


def is_content(token: str) -> bool:
    """A word that can start or end a theme."""
    return (
        len(token) >= 3
        and token not in STOP_WORDS
        and token not in EVALUATIVE
        and token not in ELISIONS
        and not token.isdigit()
    )


def fold(token: str) -> str:
    """A matching key: plural folded ("horaires" ~ "horaire", "travaux" ~ "travail" is not)."""
    if len(token) > 4 and token.endswith(("s", "x")) and not token.endswith(("ss", "us")):
        return token[:-1]
    return token


def join(words: list[str] | tuple[str, ...]) -> str:
    """Words back into text, elisions glued: ["temps", "d'", "attente"] → "temps d'attente"."""
    out = ""
    for word in words:
        if out and not out.endswith("'"):
            out += " "
        out += word
    return out
