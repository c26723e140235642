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
    found: dict[Key, str] = {}
    for clause in _CLAUSES.split(text):
        words = tokens(clause)
        for start in range(len(words)):
            first = words[start]
            if not is_content(first) or fold(first) in exclude:
                continue
            for end in range(start, min(start + MAX_WORDS, len(words))):
                inner = words[start : end + 1]
                last = inner[-1]
                middle_ok = all(w in LINKS or is_content(w) for w in inner[1:-1])
                if not middle_ok:
                    break
                if not is_content(last) or fold(last) in exclude:
                    continue
                key = tuple(fold(w) for w in inner)
                found.setdefault(key, join(inner))
    return found


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
    banned = frozenset(fold(t) for word in exclude for t in tokens(word))
    df_group: Counter[Key] = Counter()
    surfaces: dict[Key, Counter[str]] = {}
    for text in group:
        for key, surface in candidates(text, banned).items():
            df_group[key] += 1
            surfaces.setdefault(key, Counter())[surface] += 1
    df_other: Counter[Key] = Counter()
    n_other = 0
    for text in others:
        n_other += 1
        df_other.update(k for k in candidates(text, banned) if k in df_group)
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
            phrase=surfaces[k].most_common(1)[0][0],
            comments=df_group[k],
            share=df_group[k] / n_group,
            score=round(score_of[k], 6),
            key=k,
        )
        for k in chosen[:limit]
    ]


def mentions(text: str, theme: Theme) -> bool:
    """True when ``text`` contains the theme's phrase (plural-folded)."""
    return theme.key in candidates(text)
