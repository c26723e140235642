"""The labelled comments are the measure: check their shape and that the split holds."""

from __future__ import annotations

from collections import Counter

import pytest

from citela_analytics.sentiment import SentimentLabel
from citela_analytics.sentiment.dataset import (
    LabelledComment,
    assign_splits,
    load_labelled,
    parse_tsv,
    to_tsv,
)
from citela_analytics.sentiment.lexicon import LexiconBackend
from citela_analytics.sentiment.metrics import classification_report
from citela_ingest.policy_areas import PolicyArea


@pytest.fixture(scope="module")
def rows() -> list[LabelledComment]:
    return load_labelled()


def test_enough_comments_balanced_across_labels(rows: list[LabelledComment]) -> None:
    assert len(rows) >= 300
    counts = Counter(r.label for r in rows)
    assert set(counts) == set(SentimentLabel)
    assert max(counts.values()) - min(counts.values()) <= len(rows) * 0.05


def test_every_policy_area_is_covered_with_every_label(rows: list[LabelledComment]) -> None:
    areas = {r.policy_area for r in rows}
    assert areas == {a.value for a in PolicyArea}
    for area in PolicyArea:
        labels = Counter(r.label for r in rows if r.policy_area == area.value)
        assert set(labels) == set(SentimentLabel), area
        assert min(labels.values()) >= 5, area


def test_ids_and_texts_are_unique(rows: list[LabelledComment]) -> None:
    assert len({r.id for r in rows}) == len(rows)
    assert len({r.text.strip().lower() for r in rows}) == len(rows)
    assert all(r.text.strip() for r in rows)


def test_the_split_is_stratified_60_40_and_reproducible(rows: list[LabelledComment]) -> None:
    tune = [r for r in rows if r.split == "tune"]
    test = [r for r in rows if r.split == "test"]
    assert 0.55 <= len(tune) / len(rows) <= 0.65
    for label in SentimentLabel:
        share = sum(r.label is label for r in test) / len(test)
        assert abs(share - 1 / 3) < 0.03
    for area in PolicyArea:
        assert any(r.policy_area == area.value for r in test), area
    # the shipped split is the documented one: recomputing it changes nothing
    assert assign_splits(rows) == rows
    assert {r.id for r in tune}.isdisjoint({r.id for r in test})


def test_the_file_round_trips(rows: list[LabelledComment]) -> None:
    assert parse_tsv(to_tsv(rows)) == rows


def test_a_malformed_file_is_refused() -> None:
    with pytest.raises(ValueError, match="header"):
        parse_tsv("text\tlabel\n")
    header = "id\ttext\tlabel\tpolicy_area\tsplit\n"
    with pytest.raises(ValueError, match="line 2"):
        parse_tsv(header + "c1\tBonjour\tneutral\tCulture\n")
    with pytest.raises(ValueError, match="split"):
        parse_tsv(header + "c1\tBonjour\tneutral\tCulture\ttrain\n")


def test_load_one_split() -> None:
    assert {r.split for r in load_labelled("test")} == {"test"}
    assert {r.split for r in load_labelled("tune")} == {"tune"}


def test_the_default_scorer_meets_its_target_on_the_test_split() -> None:
    """A regression guard for the figure bench/sentiment_f1.py prints (target 0.80)."""
    test = load_labelled("test")
    scores = LexiconBackend().score([r.text for r in test])
    report = classification_report([r.label for r in test], [s.label for s in scores])
    assert report.macro_f1 >= 0.85, report
    assert min(f.f1 for f in report.per_class.values()) >= 0.8
