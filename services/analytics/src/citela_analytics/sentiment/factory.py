"""Which sentiment backend a process uses, from its settings.

``CITELA_SENTIMENT_BACKEND``:

* ``auto`` (default): the ``transformers`` backend when ``CITELA_SENTIMENT_MODEL`` is set,
  else the built-in French scorer (``lexicon-fr``);
* ``lexicon``: the built-in French scorer, always;
* ``transformers``: a model the operator provisioned (``CITELA_SENTIMENT_MODEL``, with
  ``CITELA_SENTIMENT_LABEL_MAP``, ``_BATCH_SIZE``, ``_DEVICE``, ``_MAX_LENGTH``,
  ``_ALLOW_DOWNLOAD``); needs the ``transformers`` extra.

A misconfiguration raises ``SentimentBackendError`` at start, with what to change: the
platform never falls back silently from a configured model to the lexicon.
"""

from __future__ import annotations

from citela_analytics.sentiment import SentimentBackend
from citela_analytics.sentiment.transformers_backend import SentimentBackendError
from citela_analytics.settings import AnalyticsSettings

__all__ = ["BACKENDS", "SentimentBackendError", "create_backend"]

BACKENDS = ("auto", "lexicon", "transformers")


def create_backend(settings: AnalyticsSettings) -> SentimentBackend:
    choice = (settings.sentiment_backend or "auto").strip().lower()
    if choice in ("lexicon-fr",):
        choice = "lexicon"
    if choice not in BACKENDS:
        raise SentimentBackendError(
            f"CITELA_SENTIMENT_BACKEND={settings.sentiment_backend!r}: use one of {BACKENDS}"
        )
    if choice == "auto":
        choice = "transformers" if settings.sentiment_model else "lexicon"
    if choice == "lexicon":
        from citela_analytics.sentiment.lexicon import LexiconBackend

        return LexiconBackend()
    if not settings.sentiment_model:
        raise SentimentBackendError(
            "CITELA_SENTIMENT_BACKEND=transformers needs CITELA_SENTIMENT_MODEL "
            "(a local model directory or a cached hub id)"
        )
    from citela_analytics.sentiment.transformers_backend import TransformersBackend

    return TransformersBackend(
        settings.sentiment_model,
        label_map=settings.sentiment_label_map,
        batch_size=settings.sentiment_batch_size,
        device=settings.sentiment_device,
        max_length=settings.sentiment_max_length,
        allow_download=settings.sentiment_allow_download,
    )
