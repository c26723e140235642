"""Sentiment of French citizens' comments: one interface, several backends.

A backend scores a batch of texts; every score says which backend and model version made it,
so that stored scores can be recomputed when the model changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from citela_common.events.models import SentimentLabel


@dataclass(frozen=True)
class Score:
    label: SentimentLabel
    score: float  # in [-1, 1]: negative … positive
    confidence: float  # in [0, 1]


class SentimentBackend(Protocol):
    name: str  # e.g. "lexicon-fr", "transformers"
    model_version: str  # changes whenever the scores could change

    def score(self, texts: list[str]) -> list[Score]:
        """One score per text, in order."""
        ...


__all__ = ["Score", "SentimentBackend", "SentimentLabel"]
