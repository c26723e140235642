"""Choosing the backend from the settings, and the transformers backend's configuration
(label maps, errors) — what needs no model and no torch."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from citela_analytics.sentiment import SentimentLabel
from citela_analytics.sentiment.factory import create_backend
from citela_analytics.sentiment.lexicon import LexiconBackend
from citela_analytics.sentiment.transformers_backend import (
    MissingDependency,
    SentimentBackendError,
    TransformersBackend,
    default_label_map,
    parse_label_map,
)
from citela_analytics.settings import AnalyticsSettings

N, U, P = SentimentLabel.NEGATIVE, SentimentLabel.NEUTRAL, SentimentLabel.POSITIVE


def settings(**kw: Any) -> AnalyticsSettings:
    return AnalyticsSettings(_env_file=None, **kw)


def test_the_default_is_the_built_in_french_scorer() -> None:
    backend = create_backend(settings())
    assert isinstance(backend, LexiconBackend)
    assert backend.name == "lexicon-fr"
    assert isinstance(create_backend(settings(sentiment_backend="lexicon")), LexiconBackend)
    # lexicon asked for explicitly wins over a configured model
    chosen = create_backend(settings(sentiment_backend="lexicon", sentiment_model="/nowhere"))
    assert isinstance(chosen, LexiconBackend)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITELA_SENTIMENT_BACKEND", "transformers")
    monkeypatch.setenv("CITELA_SENTIMENT_MODEL", "/models/x")
    monkeypatch.setenv("CITELA_SENTIMENT_LABEL_MAP", "negative=LABEL_0;positive=LABEL_1")
    monkeypatch.setenv("CITELA_SENTIMENT_BATCH_SIZE", "8")
    monkeypatch.setenv("CITELA_SENTIMENT_DEVICE", "cpu")
    s = settings()
    assert (s.sentiment_backend, s.sentiment_model, s.sentiment_batch_size) == (
        "transformers",
        "/models/x",
        8,
    )
    assert s.sentiment_label_map == "negative=LABEL_0;positive=LABEL_1"
    assert s.sentiment_device == "cpu"
    assert s.sentiment_allow_download is False


def test_misconfigurations_are_explained() -> None:
    with pytest.raises(SentimentBackendError, match="CITELA_SENTIMENT_BACKEND"):
        create_backend(settings(sentiment_backend="bert"))
    with pytest.raises(SentimentBackendError, match="needs CITELA_SENTIMENT_MODEL"):
        create_backend(settings(sentiment_backend="transformers"))


def test_a_configured_model_without_the_extra_fails_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch → ImportError
    with pytest.raises(MissingDependency, match="extra transformers"):
        create_backend(settings(sentiment_model="/models/distilcamembert"))
    with pytest.raises(MissingDependency, match="citela-analytics\\[transformers\\]"):
        TransformersBackend("/models/distilcamembert")


def test_compact_label_maps() -> None:
    stars = "negative=1 star,2 stars;neutral=3 stars;positive=4 stars, 5 stars"
    assert parse_label_map(stars) == {
        "1 star": N,
        "2 stars": N,
        "3 stars": U,
        "4 stars": P,
        "5 stars": P,
    }
    assert parse_label_map("negative=LABEL_0;neutral=LABEL_1;positive=LABEL_2;") == {
        "label_0": N,
        "label_1": U,
        "label_2": P,
    }
    assert parse_label_map("NEGATIVE=0; POSITIVE=1") == {"0": N, "1": P}
    assert parse_label_map(None) is None
    assert parse_label_map("  ") is None


def test_json_label_maps() -> None:
    assert parse_label_map('{"NEG": "negative", "POS": "positive"}') == {"neg": N, "pos": P}
    assert parse_label_map({"Mauvais": "negative"}) == {"mauvais": N}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("negative", "not 'ours=their label"),
        ("bad=LABEL_0", "not one of negative, neutral, positive"),
        ('{"a": ', "invalid JSON"),
        ('["negative"]', "JSON object"),
    ],
)
def test_bad_label_maps(spec: str, message: str) -> None:
    with pytest.raises(SentimentBackendError, match=message):
        parse_label_map(spec)


def test_recognised_model_labels() -> None:
    assert default_label_map(["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]) == {
        "1 star": N,
        "2 stars": N,
        "3 stars": U,
        "4 stars": P,
        "5 stars": P,
    }
    assert default_label_map(["NEGATIVE", "neutral", "Positive"]) == {
        "negative": N,
        "neutral": U,
        "positive": P,
    }
    assert default_label_map(["négatif", "positif"]) == {"négatif": N, "positif": P}
    with pytest.raises(SentimentBackendError, match="CITELA_SENTIMENT_LABEL_MAP"):
        default_label_map(["LABEL_0", "LABEL_1", "LABEL_2"])
