"""The built-in French scorer ("lexicon-fr"): lexicons and rules, no model download.

How a comment is scored:

1. ``text.tokenize`` folds and tokenises it (elisions and hyphens split words, SMS spellings
   expanded); clause boundaries are punctuation marks and the contrast words.
2. Expressions are matched left to right, longest first, each word matching its inflected
   forms (``text.variants``). Three lexicons, in order of precedence for the same
   expression: the project's domain vocabulary ``citela_domain_fr.tsv`` (complaints and
   praise of public services, and the function words below), Umigon's French tone lists
   (CC BY 4.0, Levallois 2013) and Pattern's French adjectives (PDDL). An expression of the
   domain file marked ``neutral`` hides its words from the other two.
3. Rules, all within a clause unless said otherwise:
   * negation (ne … pas / plus / jamais / rien / guère, pas, sans, aucun, ni, zéro) flips,
     damped (x -0.7), the sentiment words of the next few words; "ne" opens the scope, so
     "ne fonctionne pas" is caught. "jamais … aussi / si + word" is emphatic, not negative.
     Things a citizen expects (an answer, a slot, a callback) count only when negated
     ("pas de réponse", "jamais rappelé").
   * intensifiers (très, vraiment, tellement…) and attenuators (un peu, assez, plutôt…)
     scale the next sentiment word; hedges ("pour l'instant", "seul bémol") scale the whole
     sentence; "trop" intensifies a sentiment word, and alone ("trop courts") complains.
   * contrast ("mais", "cependant", "par contre"…): what comes before it in the sentence (or
     the previous sentence, when the marker opens one) weighs less; a concession ("même si",
     "malgré", "au début") weighs less in its own clause.
   * durations: "depuis trois mois", "six semaines pour…", "deux heures d'attente" complain;
     "réglé en 10 minutes", "reçu en 48 h" praise.
   * irony: praise that is often sarcastic ("bravo", "génial", "quelle efficacité", "merci")
     counts as negative when the rest of the comment is clearly negative.
4. The weighted values are summed; the sum's sign past a threshold gives the label, its
   ``tanh`` the score; the confidence grows with the distance from the thresholds.

``model_version`` is ``RULES_VERSION`` plus a hash of the shipped lexicons and of the source
of this module and ``text.py``: any change of data or rules changes it, so stored scores can
be recomputed.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from citela_analytics.sentiment import Score, SentimentLabel
from citela_analytics.sentiment.text import Token, fold, tokenize, variants, words

__all__ = [
    "LEXICON_FILES",
    "RULES_VERSION",
    "Analysis",
    "Entry",
    "Item",
    "Lexicon",
    "LexiconBackend",
    "Params",
    "load_lexicon",
]

RULES_VERSION = "1"
DATA = ("citela_analytics", "data", "lexicons")
DOMAIN_FILE = "citela_domain_fr.tsv"
UMIGON_POSITIVE = "umigon_fr/1_positive_tone.tsv"
UMIGON_NEGATIVE = "umigon_fr/2_negative_tone.tsv"
PATTERN_FILE = "pattern_fr-sentiment.xml"
LEXICON_FILES = (DOMAIN_FILE, UMIGON_POSITIVE, UMIGON_NEGATIVE, PATTERN_FILE)

KINDS = frozenset(
    {
        "polar",
        "absent",
        "neutral",
        "negation",
        "negation_ne",
        "intensifier",
        "attenuator",
        "hedge",
        "excess",
        "contrast",
        "concession",
        "sarcasm",
        "praise_q",
    }
)
VALUED = frozenset(
    {"polar", "absent", "sarcasm", "excess", "duration", "bare_negation"}
)  # kinds that carry sentiment
SOURCES = ("citela", "umigon", "pattern")  # precedence for the same expression
_SOURCE_RANK = {s: i for i, s in enumerate(SOURCES)}
# words that make an expression already negative ("toujours pas", "sans prévenir"): such an
# expression is not negated again by a cue before it
NEGATION_WORDS = frozenset(
    [
        "ne",
        "n",
        "pas",
        "jamais",
        "rien",
        "aucun",
        "aucune",
        "aucunement",
        "sans",
        "ni",
        "plus",
        "personne",
        "guere",
        "zero",
    ]
)


@dataclass(frozen=True)
class Params:
    """The tunable constants of the rules (tuned on the ``tune`` split only)."""

    threshold_pos: float = 0.3
    threshold_neg: float = 0.3
    umigon_weight: float = 0.6
    pattern_weight: float = 0.6
    pattern_min_polarity: float = 0.15
    pattern_min_subjectivity: float = 0.3
    bare_negation: float = -0.25  # a negation that negates no sentiment word: a complaint
    negation_window: int = 4
    modifier_window: int = 3
    excess_window: int = 2
    sarcasm_rest: float = -0.2  # the rest of the comment below this: praise is ironic
    sarcasm_factor: float = -0.5
    exclamation: float = 1.2
    question: float = 0.5  # a question asks more than it judges
    repetition: float = -0.3  # "trois fois", "4 fois que…": having to do it again
    score_scale: float = 1.0  # score = tanh(total / score_scale)


@dataclass(frozen=True)
class Entry:
    words: tuple[str, ...]
    kind: str
    value: float
    source: str


@dataclass
class Lexicon:
    """Expressions indexed by their first word; longest and most trusted first."""

    by_first: dict[str, list[Entry]] = field(default_factory=dict)
    digest: str = ""

    def add(self, entry: Entry) -> None:
        self.by_first.setdefault(entry.words[0], []).append(entry)

    def freeze(self) -> None:
        rank = {s: i for i, s in enumerate(SOURCES)}
        for entries in self.by_first.values():
            entries.sort(key=lambda e: (-len(e.words), rank[e.source]))

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_first.values())


def _read(name: str) -> str:
    return resources.files(DATA[0]).joinpath(*DATA[1:], name).read_text(encoding="utf-8")


def _source_text(name: str) -> str:
    return resources.files("citela_analytics.sentiment").joinpath(name).read_text("utf-8")


def parse_domain(content: str) -> list[Entry]:
    """The domain TSV: expression, kind, value[, note]; ``#`` starts a comment line."""
    out: list[Entry] = []
    for n, line in enumerate(content.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) < 3:
            raise ValueError(f"{DOMAIN_FILE}:{n}: expected expression, kind, value")
        expr, kind, value = cells[0], cells[1], float(cells[2])
        if kind not in KINDS:
            raise ValueError(f"{DOMAIN_FILE}:{n}: unknown kind {kind!r}")
        ws = tuple(words(expr))
        if not ws:
            raise ValueError(f"{DOMAIN_FILE}:{n}: empty expression")
        out.append(Entry(ws, kind, value, "citela"))
    return out


# Umigon conditions the rules here cover (negation) or that are unconditional; entries
# with any other context condition (specific neighbouring words, all caps…) are left out.
_UMIGON_OK = re.compile(
    r"^(|!isImmediatelyPrecededByANegation|!isImmediatelyFollowedByANegation"
    r"|!isImmediatelyPrecededByNegative|!isImmediatelyPrecededByANegation\+\+\+"
    r"!isImmediatelyFollowedByANegation)$"
)


def parse_umigon(content: str, value: float) -> list[Entry]:
    out: list[Entry] = []
    for line in content.splitlines():
        cells = [c.strip() for c in line.split("\t")]
        if not cells[0] or "*" in cells[0]:
            continue
        condition = cells[1] if len(cells) > 1 else ""
        if not _UMIGON_OK.match(condition):
            continue
        ws = tuple(words(cells[0]))
        if ws:
            out.append(Entry(ws, "polar", value, "umigon"))
    return out


_PATTERN_WORD = re.compile(
    r'<word form="([^"]+)" pos="([A-Z]+)" polarity="(-?[0-9.]+)" subjectivity="([0-9.]+)"'
)


def parse_pattern(
    content: str, weight: float, min_polarity: float, min_subjectivity: float
) -> list[Entry]:
    """Pattern's adjectives (pos JJ): polarity x weight; weak or objective ones dropped."""
    values: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for form, pos, polarity, subjectivity in _PATTERN_WORD.findall(content):
        p = float(polarity)
        if pos != "JJ" or abs(p) < min_polarity or float(subjectivity) < min_subjectivity:
            continue
        ws = tuple(words(form))
        if ws:
            values[ws].append(p)
    return [Entry(ws, "polar", weight * sum(ps) / len(ps), "pattern") for ws, ps in values.items()]


@lru_cache(maxsize=4)
def load_lexicon(params: Params = Params()) -> Lexicon:
    """The three lexicons, merged; cached per ``Params``."""
    lex = Lexicon()
    domain = parse_domain(_read(DOMAIN_FILE))
    umigon = parse_umigon(_read(UMIGON_POSITIVE), params.umigon_weight) + parse_umigon(
        _read(UMIGON_NEGATIVE), -params.umigon_weight
    )
    pattern = parse_pattern(
        _read(PATTERN_FILE),
        params.pattern_weight,
        params.pattern_min_polarity,
        params.pattern_min_subjectivity,
    )
    # An expression found in both general lexicons gets the mean of their values.
    general: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for e in umigon + pattern:
        general[e.words].append(e.value)
    sources = {e.words: e.source for e in pattern} | {e.words: e.source for e in umigon}
    domain_words = {e.words for e in domain}
    for e in domain:
        lex.add(e)
    for ws, vs in general.items():
        if ws not in domain_words:
            lex.add(Entry(ws, "polar", sum(vs) / len(vs), sources[ws]))
    lex.freeze()
    h = hashlib.sha256()
    for name in LEXICON_FILES:
        h.update(name.encode())
        h.update(_read(name).encode())
    for name in ("lexicon.py", "text.py"):
        h.update(_source_text(name).encode())
    h.update(repr(params).encode())
    lex.digest = h.hexdigest()
    return lex


@dataclass
class Item:
    """One matched expression and what the rules made of it (for explanations and tests)."""

    text: str
    kind: str
    value: float  # the lexicon value
    start: int  # index of its first token
    end: int  # index after its last token
    clause: int
    sentence: int
    weight: float = 1.0  # product of the modifiers applied
    negated: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def contribution(self) -> float:
        return self.value * self.weight


@dataclass
class Analysis:
    total: float
    items: list[Item]
    score: Score

    def explain(self) -> str:
        parts = [
            f"{i.text}[{i.kind} {i.value:+.2f} x{i.weight:.2f}"
            + ("".join(f" {n}" for n in i.notes))
            + "]"
            for i in self.items
            if i.kind in VALUED or i.notes
        ]
        return f"total={self.total:+.2f} " + " ".join(parts)


_NUMBERS = frozenset(
    [
        "un",
        "une",
        "deux",
        "trois",
        "quatre",
        "cinq",
        "six",
        "sept",
        "huit",
        "neuf",
        "dix",
        "onze",
        "douze",
        "treize",
        "quatorze",
        "quinze",
        "seize",
        "vingt",
        "trente",
        "quarante",
        "cinquante",
        "soixante",
        "cent",
        "plusieurs",
        "quelques",
        "des",
    ]
)
# unit → (value when it complains, value when it praises after "en")
_UNITS: dict[str, tuple[float, float]] = {
    "minute": (-0.3, 0.25),
    "minutes": (-0.3, 0.25),
    "min": (-0.3, 0.25),
    "mn": (-0.3, 0.25),
    "heure": (-0.5, 0.25),
    "heures": (-0.5, 0.25),
    "h": (-0.5, 0.25),
    "jour": (-0.4, 0.25),
    "jours": (-0.4, 0.25),
    "semaine": (-0.6, 0.25),
    "semaines": (-0.6, 0.25),
    "mois": (-0.8, 0.15),
    "an": (-0.9, 0.0),
    "ans": (-0.9, 0.0),
    "annee": (-0.9, 0.0),
    "annees": (-0.9, 0.0),
}
_DURATION_BEFORE = (
    ("depuis",),
    ("il", "y", "a"),
    ("y", "a"),
    ("seulement",),
    ("au", "bout", "de"),
    ("plus", "de"),
    ("pendant",),
    ("avant",),
    ("apres",),
    ("met",),
    ("mis",),
    ("mettent",),
    ("mettre",),
    ("attendre",),
    ("attend",),
    ("attends",),
    ("attendu",),
    ("attendons",),
    ("attendent",),
    ("attendez",),
)
_DURATION_AFTER = (
    ("d", "attente"),
    ("de", "retard"),
    ("pour",),
    ("que",),
    ("sans",),
    ("et", "toujours"),
    ("apres",),
    ("plus", "tard"),
)


_SEVERAL = _NUMBERS - {"un", "une", "des", "quelques"}


def _is_number(word: str) -> bool:
    return word.isdigit() or word in _NUMBERS


class LexiconBackend:
    """The default sentiment backend: French lexicons and rules, pure Python."""

    name = "lexicon-fr"

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or Params()
        self.lexicon = load_lexicon(self.params)
        self.model_version = f"{RULES_VERSION}+{self.lexicon.digest[:12]}"

    # --- the protocol ------------------------------------------------------------------
    def score(self, texts: list[str]) -> list[Score]:
        return [self.analyse(t).score for t in texts]

    # --- details -----------------------------------------------------------------------
    def analyse(self, text: str) -> Analysis:
        tokens = tokenize(text)
        if not any(not t.boundary for t in tokens):
            return Analysis(0.0, [], Score(SentimentLabel.NEUTRAL, 0.0, 0.05))
        items = self._match(tokens)
        items += self._durations(tokens, items)
        items.sort(key=lambda i: i.start)
        self._apply_rules(tokens, items)
        total = sum(i.contribution for i in items if i.kind in VALUED)
        return Analysis(total, items, self._to_score(total, items))

    def _match(self, tokens: Sequence[Token]) -> list[Item]:
        items: list[Item] = []
        clause = sentence = 0
        i = 0
        n = len(tokens)
        while i < n:
            tok = tokens[i]
            if tok.boundary:
                clause += 1
                if tok.sentence_end:
                    sentence += 1
                i += 1
                continue
            best: tuple[int, int, int] | None = None  # (-length, source rank, variant rank)
            best_entry: Entry | None = None
            for rank, v in enumerate(variants(tok.text)):
                for entry in self.lexicon.by_first.get(v, ()):
                    key = (-len(entry.words), _SOURCE_RANK[entry.source], rank)
                    if (best is None or key < best) and self._matches(entry.words, tokens, i):
                        best, best_entry = key, entry
            if best_entry is None:
                i += 1
                continue
            entry = best_entry
            end = i + len(entry.words)
            if entry.kind in ("contrast", "concession"):
                clause += 1
            items.append(
                Item(
                    " ".join(t.text for t in tokens[i:end]),
                    entry.kind,
                    entry.value,
                    i,
                    end,
                    clause,
                    sentence,
                )
            )
            i = end
        return items

    @staticmethod
    def _matches(ws: tuple[str, ...], tokens: Sequence[Token], i: int) -> bool:
        if i + len(ws) > len(tokens):
            return False
        for j, w in enumerate(ws[1:], start=1):
            t = tokens[i + j]
            if t.boundary or w not in variants(t.text):
                return False
        return True

    def _durations(self, tokens: Sequence[Token], items: Sequence[Item]) -> list[Item]:
        """Waiting times: "depuis trois mois", "six semaines pour", "réglé en 10 min"."""
        taken = {k for it in items for k in range(it.start, it.end) if it.kind != "neutral"}
        out: list[Item] = []
        ws = [t.text for t in tokens]
        clause = sentence = 0
        clauses: list[tuple[int, int]] = []
        for t in tokens:
            clauses.append((clause, sentence))
            if t.boundary:
                clause += 1
                sentence += t.sentence_end
        for k in range(len(tokens) - 1):
            if (
                ws[k + 1] == "fois"
                and ((ws[k].isdigit() and ws[k] not in ("0", "1")) or ws[k] in _SEVERAL)
                and (k + 2 >= len(ws) or ws[k + 2] not in ("par", "plus", "moins"))
                and k + 1 not in taken
            ):
                c, s = clauses[k]
                out.append(
                    Item(f"{ws[k]} fois", "duration", self.params.repetition, k, k + 2, c, s)
                )
                continue
            if not _is_number(ws[k]) or ws[k + 1] not in _UNITS:
                continue
            start = k - 1 if k > 0 and _is_number(ws[k - 1]) else k  # "dix huit mois"
            if ws[k] in ("des", "quelques", "plusieurs", "un", "une") and ws[k + 1] in (
                "h",
                "min",
                "mn",
            ):
                continue
            complain, praise = _UNITS[ws[k + 1]]
            before = ws[max(0, start - 3) : start]
            after = ws[k + 2 : k + 4]
            value = 0.0
            if before and before[-1] == "en":
                value = praise
            elif any(tuple(before[-len(p) :]) == p for p in _DURATION_BEFORE) or any(
                tuple(after[: len(p)]) == p for p in _DURATION_AFTER
            ):
                value = complain
            if value and not any(j in taken for j in range(start, k + 2)):
                c, s = clauses[k]
                out.append(Item(" ".join(ws[start : k + 2]), "duration", value, start, k + 2, c, s))
        return out

    def _apply_rules(self, tokens: Sequence[Token], items: list[Item]) -> None:
        p = self.params
        word_index = _word_positions(tokens)

        def distance(a: int, b: int) -> int:  # words between token a (excl.) and b (incl.)
            return word_index[b] - word_index[a]

        valued = [i for i in items if i.kind in VALUED]
        # negation -------------------------------------------------------------------------
        ne_seen: set[int] = set()
        cues: list[Item] = []
        for it in items:
            if it.kind == "negation":
                if it.text in ("ne", "n"):
                    ne_seen.add(it.clause)
                cues.append(it)
            elif it.kind == "negation_ne" and it.clause in ne_seen:
                cues.append(it)
        used: set[int] = set()
        for it in valued:
            if it.kind == "duration" or set(it.text.split()) & NEGATION_WORDS:
                continue
            cue = None
            for c in cues:
                if (
                    c.clause == it.clause
                    and c.end <= it.start
                    and distance(c.end - 1, it.start) <= p.negation_window
                ):
                    cue = c  # the nearest cue before the word wins
            if cue is None:
                continue
            used.add(id(cue))
            between = {tokens[k].text for k in range(cue.end, it.start)}
            if cue.text in ("jamais", "n", "ne") and between & {"aussi", "si", "autant"}:
                it.weight *= 1.3
                it.notes.append("emphatic")
                continue
            it.negated = True
            it.notes.append(f"neg:{cue.text}")
            if it.kind != "absent":
                it.weight *= cue.value
        # a negation that negates nothing ("jamais là", "pas pu voter") still complains, once
        # per clause; "ne" alone does not count (its "pas"/"jamais" does)
        bare_clauses: set[int] = set()
        for c in cues:
            if id(c) in used or c.text in ("ne", "n") or c.clause in bare_clauses:
                continue
            if any(id(o) in used and o.clause == c.clause for o in cues):
                continue
            bare_clauses.add(c.clause)
            items.append(
                Item(c.text, "bare_negation", p.bare_negation, c.start, c.end, c.clause, c.sentence)
            )
        items.sort(key=lambda i: i.start)
        valued = [i for i in items if i.kind in VALUED]
        for it in valued:
            if it.kind == "absent" and not it.negated:
                it.weight = 0.0
        # intensifiers, attenuators, "trop" ----------------------------------------------------
        for mod in items:
            if mod.kind not in ("intensifier", "attenuator", "excess"):
                continue
            window = p.excess_window if mod.kind == "excess" else p.modifier_window
            target = next(
                (
                    it
                    for it in valued
                    if it.clause == mod.clause
                    and it.start >= mod.end
                    and distance(mod.end - 1, it.start) <= window
                ),
                None,
            )
            if mod.kind == "excess":
                if target is not None:
                    target.weight *= 1.5
                    target.notes.append(f"x1.5:{mod.text}")
                if target is not None and target.contribution > 0:
                    mod.kind = "intensifier"  # "trop bien": it only intensifies
                else:
                    mod.notes.append("excess")
                continue
            if target is not None:
                target.weight *= mod.value
                target.notes.append(f"x{mod.value}:{mod.text}")
        valued = [i for i in items if i.kind in VALUED]
        # hedges: the whole sentence --------------------------------------------------------
        for h in items:
            if h.kind == "hedge":
                for it in valued:
                    if it.sentence == h.sentence:
                        it.weight *= h.value
                        it.notes.append(f"hedge:{h.text}")
        # contrast: what comes before weighs less ------------------------------------------
        for c in items:
            if c.kind != "contrast":
                continue
            opens_sentence = c.start == 0 or tokens[c.start - 1].sentence_end
            for it in valued:
                before = it.end <= c.start
                if before and (
                    it.sentence == c.sentence or (opens_sentence and it.sentence == c.sentence - 1)
                ):
                    it.weight *= c.value
                    it.notes.append(f"before:{c.text}")
        # concession: its own clause weighs less ------------------------------------------------
        for c in items:
            if c.kind == "concession":
                for it in valued:
                    if it.clause == c.clause and it.start >= c.end:
                        it.weight *= c.value
                        it.notes.append(f"concession:{c.text}")
        # "!" makes a sentence stronger, "?" weaker ----------------------------------------
        exclaimed = {s for s, t in zip(_sentences(tokens), tokens, strict=True) if t.text == "!"}
        asked = {s for s, t in zip(_sentences(tokens), tokens, strict=True) if t.text == "?"}
        for it in valued:
            if it.sentence in exclaimed:
                it.weight *= p.exclamation
            if it.sentence in asked:
                it.weight *= p.question
                it.notes.append("question")
        # irony: "quelle efficacité", "bravo", "merci" in a clearly negative comment -------
        for q in items:
            if q.kind == "praise_q":
                for it in valued:
                    if (
                        it.kind == "polar"
                        and it.value > 0
                        and it.clause == q.clause
                        and 0 <= distance(q.end - 1, it.start) <= 2
                    ):
                        it.kind = "sarcasm"
        rest = sum(i.contribution for i in valued if i.kind != "sarcasm")
        if rest < p.sarcasm_rest:
            for it in valued:
                if it.kind == "sarcasm" and it.value > 0 and not it.negated:
                    it.weight *= p.sarcasm_factor
                    it.notes.append("ironic")

    def _to_score(self, total: float, items: Iterable[Item]) -> Score:
        p = self.params
        score = math.tanh(total / p.score_scale)
        evidence = sum(abs(i.contribution) for i in items if i.kind in VALUED)
        if total >= p.threshold_pos:
            label = SentimentLabel.POSITIVE
            confidence = 0.5 + 0.5 * math.tanh(2 * (total - p.threshold_pos) + 0.2)
        elif total <= -p.threshold_neg:
            label = SentimentLabel.NEGATIVE
            confidence = 0.5 + 0.5 * math.tanh(2 * (-total - p.threshold_neg) + 0.2)
        else:
            label = SentimentLabel.NEUTRAL
            margin = min(p.threshold_pos - total, total + p.threshold_neg)
            # no evidence at all: plainly factual; evidence that cancels out: less sure
            confidence = 0.45 + 0.3 * margin / max(p.threshold_pos, p.threshold_neg)
            confidence -= min(0.15, 0.05 * evidence)
        return Score(label, max(-1.0, min(1.0, score)), max(0.0, min(1.0, confidence)))


def _word_positions(tokens: Sequence[Token]) -> list[int]:
    """For each token, the number of words up to and including it."""
    out: list[int] = []
    n = 0
    for t in tokens:
        if not t.boundary:
            n += 1
        out.append(n)
    return out


def _sentences(tokens: Sequence[Token]) -> list[int]:
    out: list[int] = []
    s = 0
    for t in tokens:
        out.append(s)
        if t.sentence_end:
            s += 1
    return out


def normalise_for_lookup(text: str) -> str:
    """How an expression is keyed in the lexicons (folded words joined by spaces)."""
    return " ".join(words(fold(text)))
