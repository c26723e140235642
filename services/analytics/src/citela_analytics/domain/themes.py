"""Recurring themes of a group of comments: meaningful French phrases, not stop words.

Candidates are phrases of one to four words inside one clause (punctuation cuts), starting
and ending with a content word (not a stop word, an elision or a word of judgement), with
only links ("de", "d'", "du", "la", "au"…) or content words inside: "temps d'attente",
"horaires d'ouverture", "prise de rendez-vous". Plurals fold ("horaire" ~ "horaires").

A phrase's score is frequency × distinctiveness:
    comments of the group containing it × log2(1 + lift), lift = share in the group / share
    in the other comments (smoothed), times a small bonus per extra content word,
so a phrase every comment of the tenant uses ("service", "mairie") ranks below the one this
group keeps coming back to. A phrase inside a chosen longer one is dropped, and a longer
phrase replaces a chosen shorter one it contains when it covers most of its comments.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from citela_analytics.domain.french import LINKS, fold, is_content, join, tokens

_CLAUSES = re.compile(r"[.,;:!?()\[\]\"«»…\n\r\t/|–—]+|\s-\s")
MAX_WORDS = 4

Key = tuple[str, ...]


@dataclass(frozen=True)
class Theme:
    phrase: str  # the most frequent surface form
    comments: int  # comments of the group that contain it
    share: float  # comments / size of the group
    score: float
    key: Key


def candidates(text: str, exclude: frozenset[str] = frozenset()) -> dict[Key, str]:
    """The candidate phrases of one comment: folded key → surface form."""
    keys, surfaces = _index(text)
    found = {_words(k): v for k, v in zip(keys, surfaces, strict=True)}
    if not exclude:
        return found
    # An excluded word only ever bars a phrase from starting or ending on it.
    return {k: v for k, v in found.items() if k[0] not in exclude and k[-1] not in exclude}


def _extract(text: str) -> dict[Key, str]:
    found: dict[Key, str] = {}
    for clause in _CLAUSES.split(text):
        words = tokens(clause)
        if not words:
            continue
        content = [is_content(w) for w in words]
        inner_ok = [c or w in LINKS for w, c in zip(words, content, strict=True)]
        folded = [fold(w) for w in words]
        n = len(words)
        for start in range(n):
            if not content[start]:
                continue
            for end in range(start, min(start + MAX_WORDS, n)):
                if end - start >= 2 and not inner_ok[end - 1]:
                    break  # a word that is neither content nor link cuts the phrase
                if not content[end]:
                    continue
                key = tuple(folded[start : end + 1])
                if key not in found:
                    found[key] = join(words[start : end + 1])
    return found


# Comments never change once published (a revision is another text), and the same texts are
# read again by every explanation of the tenant: each one's phrases are extracted once per
# process. An entry is two tuples of interned strings (a key's words joined by spaces, which
# no token holds; a string keeps its hash, a tuple computes it again at every set lookup):
# ~0.5 KB a comment, ~25 MB for the bound, which holds the comments a page of a 50,000-answer
# tenant reads (a smaller bound thrashed: every text of a page missed, in turn).
@lru_cache(maxsize=50_000)
def _index(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    found = _extract(text)
    keys = tuple(sys.intern(" ".join(k)) for k in found)
    surfaces = tuple(sys.intern(v) for v in found.values())
    return keys, surfaces


def _keys(text: str) -> tuple[str, ...]:
    return _index(text)[0]


def _words(key: str) -> Key:
    return tuple(key.split(" "))


def _contains(longer: Key, shorter: Key) -> bool:
    n = len(shorter)
    return len(longer) > n and any(longer[i : i + n] == shorter for i in range(len(longer) - n + 1))


def themes(
    group: Sequence[str],
    others: Iterable[str] = (),
    *,
    limit: int = 5,
    min_comments: int = 2,
    exclude: Iterable[str] = (),
) -> list[Theme]:
    """The ``limit`` best themes of ``group`` against the ``others`` comments."""
    if not group:
        return []
    banned = _banned(exclude)
    df_group = _group_counts(group, banned)
    df_other, n_other = _background(others, frozenset(df_group))
    return _choose(group, df_group, df_other, n_other, limit, min_comments)


def contrasted(
    groups: Sequence[Sequence[str]],
    everything: Iterable[str],
    *,
    limit: int = 5,
    min_comments: int = 2,
    exclude: Iterable[str] = (),
) -> list[list[Theme]]:
    """The themes of each group against all the other comments of ``everything``.

    Each group is a part of ``everything`` (the same comments, counted there too): the same
    as ``themes(group, everything minus group)`` for each group, with ``everything`` read
    once for all of them.
    """
    banned = _banned(exclude)
    counts = [_group_counts(g, banned) for g in groups]
    df_all, n_all = _background(everything, frozenset().union(*counts))
    out: list[list[Theme]] = []
    for group, df_group in zip(groups, counts, strict=True):
        if not group:
            out.append([])
            continue
        df_other = Counter({k: df_all[k] - n for k, n in df_group.items()})
        out.append(_choose(group, df_group, df_other, n_all - len(group), limit, min_comments))
    return out


def _banned(exclude: Iterable[str]) -> frozenset[str]:
    return frozenset(fold(t) for word in exclude for t in tokens(word))


def _group_counts(group: Iterable[str], banned: frozenset[str]) -> Counter[str]:
    """Comments of the group containing each phrase (none starting or ending on ``banned``)."""
    df: Counter[str] = Counter()
    for text in group:
        df.update(_keys(text))
    if banned:
        for key in [k for k in df if _words(k)[0] in banned or _words(k)[-1] in banned]:
            del df[key]
    return df


def _background(texts: Iterable[str], wanted: frozenset[str]) -> tuple[Counter[str], int]:
    """Comments of ``texts`` containing each of the ``wanted`` phrases, and their number."""
    df: Counter[str] = Counter()
    n = 0
    for text in texts:
        n += 1
        df.update(wanted.intersection(_keys(text)))
    return df, n


def _choose(
    group: Sequence[str],
    df_group: Counter[str],
    df_other: Counter[str],
    n_other: int,
    limit: int,
    min_comments: int,
) -> list[Theme]:
    n_group = len(group)
    scored: list[tuple[float, Key]] = []
    for joined, count in df_group.items():
        if count < min_comments:
            continue
        lift = (count / n_group) / ((df_other[joined] + 1) / (n_other + 2))
        words = _words(joined)
        content_words = sum(1 for w in words if w not in LINKS)
        score = count * math.log2(1 + lift) * (1 + 0.25 * (content_words - 1))
        scored.append((score, words))
    counts = {_words(k): n for k, n in df_group.items()}
    scored.sort(key=lambda sk: (-sk[0], -counts[sk[1]], sk[1]))

    chosen: list[Key] = []
    for _score, key in scored:
        if any(_contains(c, key) for c in chosen):
            continue
        inside = [c for c in chosen if _contains(key, c)]
        if inside:
            if all(counts[key] >= 0.6 * counts[c] for c in inside):
                chosen = [c for c in chosen if c not in inside]
                chosen.append(key)
            continue
        chosen.append(key)
        if len(chosen) >= limit * 2:  # enough to choose from after replacements
            break
    score_of = dict((k, s) for s, k in scored)
    chosen.sort(key=lambda k: (-score_of[k], k))
    return [
        Theme(
            phrase=_surface(group, " ".join(k)),
            comments=counts[k],
            share=counts[k] / n_group,
            score=round(score_of[k], 6),
            key=k,
        )
        for k in chosen[:limit]
    ]


def _surface(group: Iterable[str], key: str) -> str:
    """The phrase's most frequent written form in the group (the first seen among equals)."""
    forms: Counter[str] = Counter()
    for text in group:
        keys, surfaces = _index(text)
        if key in keys:
            forms[surfaces[keys.index(key)]] += 1
    return forms.most_common(1)[0][0]


def mentions(text: str, theme: Theme) -> bool:
    """True when ``text`` contains the theme's phrase (plural-folded)."""
    return " ".join(theme.key) in _keys(text)
