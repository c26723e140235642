"""Classification figures for the sentiment benchmark: per-class precision, recall, F1, and
macro-F1 (the unweighted mean of the per-class F1), as scikit-learn defines them (a class
never predicted has precision 0; a class absent from the truth has recall 0)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from citela_common.events.models import SentimentLabel

LABELS: tuple[SentimentLabel, ...] = (
    SentimentLabel.NEGATIVE,
    SentimentLabel.NEUTRAL,
    SentimentLabel.POSITIVE,
)


@dataclass(frozen=True)
class ClassFigures:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Report:
    per_class: dict[SentimentLabel, ClassFigures]
    macro_f1: float
    accuracy: float
    confusion: dict[tuple[SentimentLabel, SentimentLabel], int]  # (truth, predicted) → n
    n: int


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def classification_report(
    truth: Sequence[SentimentLabel], predicted: Sequence[SentimentLabel]
) -> Report:
    if len(truth) != len(predicted):
        raise ValueError("truth and predicted differ in length")
    confusion = {(t, p): 0 for t in LABELS for p in LABELS}
    for t, p in zip(truth, predicted, strict=True):
        confusion[(t, p)] += 1
    per_class: dict[SentimentLabel, ClassFigures] = {}
    for c in LABELS:
        tp = confusion[(c, c)]
        predicted_c = sum(confusion[(t, c)] for t in LABELS)
        support = sum(confusion[(c, p)] for p in LABELS)
        precision = _ratio(tp, predicted_c)
        recall = _ratio(tp, support)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = ClassFigures(precision, recall, f1, support)
    correct = sum(confusion[(c, c)] for c in LABELS)
    return Report(
        per_class,
        sum(f.f1 for f in per_class.values()) / len(LABELS),
        _ratio(correct, len(truth)),
        confusion,
        len(truth),
    )
