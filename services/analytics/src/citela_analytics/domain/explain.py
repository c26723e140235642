"""What the comments behind a cell say: sentiment distribution, themes, representative quotes.

Quotes are the redacted texts exactly as the feedback events carried them. A quote is
representative when it mentions the group's main themes, says so clearly (|score| ×
confidence) and reads well on its own (neither a word nor a page).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from citela_analytics.domain.themes import Theme, contrasted, mentions
from citela_common.events.models import SentimentLabel


@dataclass(frozen=True)
class Comment:
    feedback_id: str
    text: str
    submitted_at: datetime
    label: SentimentLabel | None = None  # None: not scored yet
    score: float | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class SentimentDistribution:
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    unscored: int = 0

    @property
    def scored(self) -> int:
        return self.negative + self.neutral + self.positive

    def share(self, label: SentimentLabel) -> float | None:
        """Share of ``label`` among the scored comments (None when none is scored)."""
        if not self.scored:
            return None
        return int(getattr(self, label.value)) / self.scored


@dataclass(frozen=True)
class Explanation:
    comments: int
    sentiment: SentimentDistribution
    negative_themes: list[Theme] = field(default_factory=list)
    positive_themes: list[Theme] = field(default_factory=list)
    quotes: dict[SentimentLabel, list[Comment]] = field(default_factory=dict)


def distribution(comments: Iterable[Comment]) -> SentimentDistribution:
    counts = {label: 0 for label in SentimentLabel}
    unscored = 0
    for c in comments:
        if c.label is None:
            unscored += 1
        else:
            counts[c.label] += 1
    return SentimentDistribution(
        negative=counts[SentimentLabel.NEGATIVE],
        neutral=counts[SentimentLabel.NEUTRAL],
        positive=counts[SentimentLabel.POSITIVE],
        unscored=unscored,
    )


def _readability(text: str) -> float:
    n = len(text)
    if n < 25:
        return -1.0
    if n > 400:
        return -0.5
    return 0.5 if 50 <= n <= 250 else 0.0


def representative(
    comments: Sequence[Comment], main_themes: Sequence[Theme], limit: int = 3
) -> list[Comment]:
    """The ``limit`` most representative comments, distinct texts, best first."""

    def value(c: Comment) -> float:
        clear = abs(c.score or 0.0) * (c.confidence if c.confidence is not None else 0.5)
        covered = sum(1 for t in main_themes if mentions(c.text, t))
        return 2.0 * covered + clear + _readability(c.text)

    seen: set[str] = set()
    out: list[Comment] = []
    for c in sorted(comments, key=lambda c: (-value(c), c.submitted_at, c.feedback_id)):
        folded = " ".join(c.text.casefold().split())
        if not folded or folded in seen:
            continue
        seen.add(folded)
        out.append(c)
        if len(out) >= limit:
            break
    return out


def explain(
    comments: Sequence[Comment],
    others: Sequence[str] = (),
    *,
    exclude: Iterable[str] = (),
    themes_limit: int = 5,
    quotes_limit: int = 3,
) -> Explanation:
    """Explain a cell from its ``comments``; ``others`` are the tenant's other comments.

    The negative themes contrast the cell's negative comments with everything else (its
    other comments and ``others``); the positive themes likewise. ``exclude``: words never to
    report as themes (the service's own name, say).
    """
    excluded = list(exclude)
    by_label: dict[SentimentLabel, list[Comment]] = {label: [] for label in SentimentLabel}
    for c in comments:
        if c.label is not None:
            by_label[c.label].append(c)

    # Each label's comments against the cell's other comments and ``others``: the same
    # background for both, read once.
    negative, positive = contrasted(
        [
            [c.text for c in by_label[SentimentLabel.NEGATIVE]],
            [c.text for c in by_label[SentimentLabel.POSITIVE]],
        ],
        [*(c.text for c in comments), *others],
        limit=themes_limit,
        exclude=excluded,
    )
    quotes = {
        SentimentLabel.NEGATIVE: representative(
            by_label[SentimentLabel.NEGATIVE], negative, quotes_limit
        ),
        SentimentLabel.POSITIVE: representative(
            by_label[SentimentLabel.POSITIVE], positive, quotes_limit
        ),
        SentimentLabel.NEUTRAL: representative(by_label[SentimentLabel.NEUTRAL], [], 1),
    }
    return Explanation(
        comments=len(comments),
        sentiment=distribution(comments),
        negative_themes=negative,
        positive_themes=positive,
        quotes=quotes,
    )
