"""The benchmark's figures, checked against hand computations."""

from __future__ import annotations

import pytest

from citela_analytics.sentiment import SentimentLabel
from citela_analytics.sentiment.metrics import classification_report

N, U, P = SentimentLabel.NEGATIVE, SentimentLabel.NEUTRAL, SentimentLabel.POSITIVE


def test_a_hand_computed_example() -> None:
    truth = [N, N, N, N, U, U, U, P, P, P]
    predicted = [N, N, N, U, U, U, P, P, P, N]
    r = classification_report(truth, predicted)
    # negative: tp 3, predicted 4, support 4 → P 3/4, R 3/4, F1 3/4
    assert r.per_class[N].precision == pytest.approx(0.75)
    assert r.per_class[N].recall == pytest.approx(0.75)
    assert r.per_class[N].f1 == pytest.approx(0.75)
    # neutral: tp 2, predicted 3, support 3 → P 2/3, R 2/3
    assert r.per_class[U].f1 == pytest.approx(2 / 3)
    # positive: tp 2, predicted 3, support 3
    assert r.per_class[P].precision == pytest.approx(2 / 3)
    assert r.per_class[P].support == 3
    assert r.macro_f1 == pytest.approx((0.75 + 2 / 3 + 2 / 3) / 3)
    assert r.accuracy == pytest.approx(0.7)
    assert r.confusion[(N, U)] == 1
    assert r.confusion[(P, N)] == 1
    assert sum(r.confusion.values()) == r.n == 10


def test_unequal_precision_and_recall() -> None:
    truth = [P, P, P, P, N, U]
    predicted = [P, P, U, U, P, U]
    r = classification_report(truth, predicted)
    # positive: tp 2, predicted 3, support 4 → P 2/3, R 1/2, F1 = 2PR/(P+R) = 4/7
    assert r.per_class[P].f1 == pytest.approx(4 / 7)
    # negative: never predicted → precision 0, recall 0, F1 0
    assert r.per_class[N].precision == 0 == r.per_class[N].f1
    # neutral: tp 1, predicted 3, support 1 → P 1/3, R 1, F1 1/2
    assert r.per_class[U].f1 == pytest.approx(0.5)
    assert r.macro_f1 == pytest.approx((4 / 7 + 0 + 0.5) / 3)


def test_perfect_and_mismatched() -> None:
    assert classification_report([N, U, P], [N, U, P]).macro_f1 == 1
    with pytest.raises(ValueError, match="length"):
        classification_report([N], [])
