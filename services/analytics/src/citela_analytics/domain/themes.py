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
    found = _phrases(text)
    if not exclude:
        return dict(found)
    # An excluded word only ever bars a phrase from starting or ending on it.
    return {k: v for k, v in found.items() if k[0] not in exclude and k[-1] not in exclude}


# Comments never change once published (a revision is another text), and the same texts are
# read again by every explanation of the tenant: each one's phrases are extracted once per
# process. ~4 KB a text (both memos): the bound keeps them under ~80 MB at worst.
@lru_cache(maxsize=20_000)
def _phrases(text: str) -> dict[Key, str]:
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


@lru_cache(maxsize=20_000)
def _keys(text: str) -> frozenset[Key]:
    return frozenset(_phrases(text))


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


def _group_counts(group: Iterable[str], banned: frozenset[str]) -> Counter[Key]:
    """Comments of the group containing each phrase (none starting or ending on ``banned``)."""
    df: Counter[Key] = Counter()
    for text in group:
        df.update(_keys(text))
    if banned:
        for key in [k for k in df if k[0] in banned or k[-1] in banned]:
            del df[key]
    return df


def _background(texts: Iterable[str], wanted: frozenset[Key]) -> tuple[Counter[Key], int]:
    """Comments of ``texts`` containing each of the ``wanted`` phrases, and their number."""
    df: Counter[Key] = Counter()
    n = 0
    for text in texts:
        n += 1
        df.update(_keys(text) & wanted)
    return df, n


def _choose(
    group: Sequence[str],
    df_group: Counter[Key],
    df_other: Counter[Key],
    n_other: int,
    limit: int,
    min_comments: int,
) -> list[Theme]:
    n_group = len(group)
    scored: list[tuple[float, Key]] = []
    for key, count in df_group.items():
        if count < min_comments:
            continue
        lift = (count / n_group) / ((df_other[key] + 1) / (n_other + 2))
        content_words = sum(1 for w in key if w not in LINKS)
        score = count * math.log2(1 + lift) * (1 + 0.25 * (content_words - 1))
        scored.append((score, key))
    scored.sort(key=lambda sk: (-sk[0], -df_group[sk[1]], sk[1]))

    chosen: list[Key] = []
    for _score, key in scored:
        if any(_contains(c, key) for c in chosen):
            continue
        inside = [c for c in chosen if _contains(key, c)]
        if inside:
            if all(df_group[key] >= 0.6 * df_group[c] for c in inside):
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
            phrase=_surface(group, k),
            comments=df_group[k],
            share=df_group[k] / n_group,
            score=round(score_of[k], 6),
            key=k,
        )
        for k in chosen[:limit]
    ]


def _surface(group: Iterable[str], key: Key) -> str:
    """The phrase's most frequent written form in the group (the first seen among equals)."""
    forms: Counter[str] = Counter(_phrases(text)[key] for text in group if key in _keys(text))
    return forms.most_common(1)[0][0]


def mentions(text: str, theme: Theme) -> bool:
    """True when ``text`` contains the theme's phrase (plural-folded)."""
    return theme.key in _keys(text)
