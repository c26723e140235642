"""Sentiment with a Hugging Face ``transformers`` text-classification model ("transformers").

The operator provisions the model: a local directory (``save_pretrained`` layout), or a hub
id already in the local Hugging Face cache. Nothing is downloaded unless the operator says so
(``allow_download`` / ``CITELA_SENTIMENT_ALLOW_DOWNLOAD``): loading uses
``local_files_only=True``.

Needs the optional extra: ``pip install 'citela-analytics[transformers]'`` (or
``uv sync --extra transformers``), which brings ``transformers`` and ``torch``.

* Texts are scored in batches (``batch_size``), sorted by length within a call so that little
  padding is computed, and returned in the caller's order; each is truncated to the model's
  maximum length (or ``max_length`` when smaller).
* The model's labels are mapped onto ours by ``label_map`` (see ``parse_label_map``); without
  one, labels named negative / neutral / positive (in English or French) or "N star(s)"
  (1–2 negative, 3 neutral, 4–5 positive) are recognised, anything else must be mapped.
* ``score`` = P(positive) − P(negative), the expected polarity when negative counts −1,
  neutral 0 and positive +1; ``label`` = the mapped class with the highest probability;
  ``confidence`` = that probability.
* ``model_version`` = the config's ``_name_or_path`` + ``@`` + a hash of the model's config,
  weights and tokenizer files and of the label mapping, so a new model, new weights or a
  new mapping all change it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from citela_analytics.sentiment import Score, SentimentLabel

__all__ = [
    "MissingDependency",
    "ModelLoadError",
    "SentimentBackendError",
    "TransformersBackend",
    "default_label_map",
    "parse_label_map",
]

EXTRA_HINT = (
    "the transformers sentiment backend needs the optional extra: "
    "`uv sync --all-packages --extra transformers` "
    "(or `pip install 'citela-analytics[transformers]'`)"
)
_POLARITY = {
    SentimentLabel.NEGATIVE: -1.0,
    SentimentLabel.NEUTRAL: 0.0,
    SentimentLabel.POSITIVE: 1.0,
}
_SYNONYMS: dict[str, SentimentLabel] = {
    "negative": SentimentLabel.NEGATIVE,
    "neg": SentimentLabel.NEGATIVE,
    "negatif": SentimentLabel.NEGATIVE,
    "négatif": SentimentLabel.NEGATIVE,
    "neutral": SentimentLabel.NEUTRAL,
    "neu": SentimentLabel.NEUTRAL,
    "neutre": SentimentLabel.NEUTRAL,
    "positive": SentimentLabel.POSITIVE,
    "pos": SentimentLabel.POSITIVE,
    "positif": SentimentLabel.POSITIVE,
}
_STARS = re.compile(r"^\s*([1-5])\s*(star|stars|étoile|étoiles|etoile|etoiles)?\s*$", re.I)
# files whose content decides the scores (weights may be sharded)
_VERSION_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
    "tokenizer.model",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_EMPTY = Score(SentimentLabel.NEUTRAL, 0.0, 0.05)


class SentimentBackendError(RuntimeError):
    """A sentiment backend cannot be built as configured."""


class MissingDependency(SentimentBackendError):
    pass


class ModelLoadError(SentimentBackendError):
    pass


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise MissingDependency(f"{EXTRA_HINT} ({name}: {e})") from e


def _norm(label: str) -> str:
    return " ".join(label.strip().lower().split())


def parse_label_map(spec: str | Mapping[str, str] | None) -> dict[str, SentimentLabel] | None:
    """The operator's mapping from the model's labels to ours, or None.

    Either a JSON object ``{"1 star": "negative", …}`` (or such a mapping), or the compact
    form ``negative=1 star,2 stars;neutral=3 stars;positive=4 stars,5 stars`` (also
    ``negative=LABEL_0;neutral=LABEL_1;positive=LABEL_2``, or ids ``negative=0;…``).
    Model labels are compared case-insensitively."""
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = spec.strip()
        if not spec:
            return None
        if spec.startswith(("{", "[")):
            try:
                loaded = json.loads(spec)
            except json.JSONDecodeError as e:
                raise SentimentBackendError(f"sentiment label map: invalid JSON ({e})") from e
            if not isinstance(loaded, dict):
                raise SentimentBackendError("sentiment label map: a JSON object is expected")
            pairs = [(str(k), str(v)) for k, v in loaded.items()]
        else:
            pairs = []
            for part in spec.split(";"):
                if not part.strip():
                    continue
                ours, sep, theirs = part.partition("=")
                if not sep or not theirs.strip():
                    raise SentimentBackendError(
                        f"sentiment label map: {part!r} is not 'ours=their label,…'"
                    )
                pairs.extend((t, ours) for t in theirs.split(",") if t.strip())
    else:
        pairs = [(str(k), str(v)) for k, v in spec.items()]
    out: dict[str, SentimentLabel] = {}
    for theirs, ours in pairs:
        try:
            out[_norm(theirs)] = SentimentLabel(ours.strip().lower())
        except ValueError as e:
            raise SentimentBackendError(
                f"sentiment label map: {ours!r} is not one of negative, neutral, positive"
            ) from e
    return out


def default_label_map(labels: Iterable[str]) -> dict[str, SentimentLabel]:
    """Our label for each model label when the operator gave no map, or an error."""
    labels = list(labels)
    out: dict[str, SentimentLabel] = {}
    for label in labels:
        n = _norm(label)
        if n in _SYNONYMS:
            out[n] = _SYNONYMS[n]
            continue
        m = _STARS.match(n)
        if m and len(labels) == 5:
            stars = int(m.group(1))
            out[n] = (
                SentimentLabel.NEGATIVE
                if stars <= 2
                else SentimentLabel.NEUTRAL
                if stars == 3
                else SentimentLabel.POSITIVE
            )
            continue
        raise SentimentBackendError(
            f"the model's labels {labels} cannot be mapped to negative/neutral/positive "
            "on their own: set CITELA_SENTIMENT_LABEL_MAP, e.g. "
            "'negative=LABEL_0;neutral=LABEL_1;positive=LABEL_2'"
        )
    return out


def _hash_files(paths: Iterable[Path], extra: bytes) -> str:
    h = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        h.update(path.name.encode())
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    h.update(extra)
    return h.hexdigest()


class TransformersBackend:
    """A ``transformers`` sequence-classification model as a ``SentimentBackend``."""

    name = "transformers"

    def __init__(
        self,
        model: str,
        *,
        label_map: str | Mapping[str, str] | None = None,
        batch_size: int = 32,
        device: str = "auto",
        max_length: int | None = None,
        allow_download: bool = False,
        revision: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise SentimentBackendError("batch_size must be at least 1")
        self._torch = _import("torch")
        transformers = _import("transformers")
        self.batch_size = batch_size
        self.device = self._pick_device(device)
        path = Path(model).expanduser()
        local = path.is_dir()
        if not local and (model.startswith((".", "/", "~")) or path.exists()):
            raise ModelLoadError(f"sentiment model directory {model!r} does not exist")
        source = str(path) if local else model
        kwargs: dict[str, Any] = {"local_files_only": not allow_download}
        if revision:
            kwargs["revision"] = revision
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
            self.model = transformers.AutoModelForSequenceClassification.from_pretrained(
                source, **kwargs
            )
        except (OSError, ValueError, KeyError) as e:
            where = (
                f"directory {source!r}"
                if local
                else f"hub id {source!r} (not in the local cache"
                + ("" if allow_download else "; downloads are off")
                + ")"
            )
            raise ModelLoadError(
                f"cannot load a text-classification model from {where}: {e}"
            ) from e
        self.model.to(self.device)
        self.model.eval()
        config = self.model.config
        id2label = {int(i): str(lbl) for i, lbl in config.id2label.items()}
        self.labels = [id2label[i] for i in range(len(id2label))]
        self.label_map = self._resolve_map(parse_label_map(label_map))
        self.max_length = self._max_length(max_length)
        files_dir = path if local else self._snapshot_dir(model, revision)
        self.model_version = self._version(str(config._name_or_path or model), files_dir)

    # --- the protocol ------------------------------------------------------------------
    def score(self, texts: list[str]) -> list[Score]:
        out: list[Score | None] = [None] * len(texts)
        todo = [(i, t) for i, t in enumerate(texts) if t and t.strip()]
        for i, t in enumerate(texts):
            if not (t and t.strip()):
                out[i] = _EMPTY
        todo.sort(key=lambda it: len(it[1]))
        torch = self._torch
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            enc = self.tokenizer(
                [t for _, t in batch],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                probs = torch.softmax(self.model(**enc).logits.float(), dim=-1).cpu().tolist()
            for (i, _), p in zip(batch, probs, strict=True):
                out[i] = self._to_score(p)
        return [s if s is not None else _EMPTY for s in out]

    # --- details -----------------------------------------------------------------------
    def _to_score(self, probs: list[float]) -> Score:
        mass = dict.fromkeys(_POLARITY, 0.0)
        for label, p in zip(self.labels, probs, strict=True):
            mass[self.label_map[_norm(label)]] += p
        best = max(mass, key=lambda k: mass[k])
        polarity = sum(_POLARITY[k] * m for k, m in mass.items())
        return Score(best, max(-1.0, min(1.0, polarity)), max(0.0, min(1.0, mass[best])))

    def _pick_device(self, device: str) -> str:
        torch = self._torch
        device = (device or "auto").strip().lower()
        if device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise SentimentBackendError(
                f"sentiment device {device!r} asked for, but torch sees no CUDA device"
            )
        if device != "cpu" and not device.startswith("cuda"):
            raise SentimentBackendError(f"sentiment device {device!r}: use auto, cpu or cuda[:N]")
        return device

    def _resolve_map(self, given: dict[str, SentimentLabel] | None) -> dict[str, SentimentLabel]:
        if given is None:
            return default_label_map(self.labels)
        resolved: dict[str, SentimentLabel] = {}
        missing = []
        for i, label in enumerate(self.labels):
            n = _norm(label)
            ours = given.get(n, given.get(str(i), given.get(f"label_{i}")))
            if ours is None:
                missing.append(label)
            else:
                resolved[n] = ours
        if missing:
            raise SentimentBackendError(
                f"sentiment label map leaves the model's labels {missing} unmapped "
                f"(the model's labels: {self.labels})"
            )
        return resolved

    def _max_length(self, wanted: int | None) -> int:
        tokenizer_max = getattr(self.tokenizer, "model_max_length", None)
        limit: int | None = None
        if isinstance(tokenizer_max, int) and tokenizer_max <= 100_000:
            limit = tokenizer_max  # tokenizers without a limit say 1e30
        if limit is None:
            limit = int(getattr(self.model.config, "max_position_embeddings", 512))
        return min(limit, wanted) if wanted else limit

    @staticmethod
    def _snapshot_dir(model: str, revision: str | None) -> Path | None:
        try:
            hub = importlib.import_module("huggingface_hub")
            return Path(hub.snapshot_download(model, revision=revision, local_files_only=True))
        except Exception:  # the version then falls back on the config alone
            return None

    def _version(self, name: str, files_dir: Path | None) -> str:
        mapping = json.dumps(
            {k: v.value for k, v in sorted(self.label_map.items())}, sort_keys=True
        ).encode()
        files: list[Path] = []
        if files_dir is not None and files_dir.is_dir():
            files = [
                f
                for f in files_dir.iterdir()
                if f.is_file() and (f.name in _VERSION_FILES or f.suffix in _WEIGHT_SUFFIXES)
            ]
        if not files:  # no file to read: the config and the weights' shapes stand in
            config = self.model.config.to_json_string().encode()
            return f"{name}@{hashlib.sha256(config + mapping).hexdigest()[:12]}"
        return f"{name}@{_hash_files(files, mapping)[:12]}"
