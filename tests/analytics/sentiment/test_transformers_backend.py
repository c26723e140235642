"""The transformers backend, for real, on a tiny BERT built here (2 layers, hidden size 32,
a hand-written WordPiece vocabulary) and saved with ``save_pretrained``: no download.

It needs the ``transformers`` extra (transformers + torch), which ``make test`` installs; without
it these tests fail and say how to install it (they never skip).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from citela_analytics.sentiment import SentimentLabel
from citela_analytics.sentiment.factory import create_backend
from citela_analytics.sentiment.transformers_backend import (
    EXTRA_HINT,
    ModelLoadError,
    SentimentBackendError,
    TransformersBackend,
)
from citela_analytics.settings import AnalyticsSettings

if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None:
    # Never a skip: `make test` installs the extra, and a missing backend is a failure to see.
    pytest.fail(f"transformers/torch are missing: {EXTRA_HINT}", pytrace=False)

torch: Any = importlib.import_module("torch")
transformers: Any = importlib.import_module("transformers")
tokenizers: Any = importlib.import_module("tokenizers")

N, U, P = SentimentLabel.NEGATIVE, SentimentLabel.NEUTRAL, SentimentLabel.POSITIVE
WORDS = [
    "le",
    "la",
    "les",
    "l",
    "accueil",
    "est",
    "sont",
    "bien",
    "mal",
    "tres",
    "pas",
    "attente",
    "mairie",
    "piscine",
    "guichet",
    "ferme",
    "propre",
    "sale",
    "agents",
    "aimables",
    "rapide",
    "long",
    "lent",
    "service",
]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
MAX_POSITIONS = 32
STARS = {0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"}
STAR_MAP = "negative=1 star,2 stars;neutral=3 stars;positive=4 stars,5 stars"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach the hub, and the hub cache is an empty one."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


def save_tiny_model(
    path: Path,
    *,
    id2label: dict[int, str] | None = None,
    seed: int = 0,
    bias: list[float] | None = None,
) -> Path:
    """A 2-layer BERT with a WordPiece vocabulary of a few French words, saved to ``path``.

    With ``bias``, the classifier's weights are zero: the logits are ``bias`` whatever the
    text, so the probabilities are known in advance."""
    labels = id2label or STARS
    vocab = {w: i for i, w in enumerate(SPECIAL + WORDS)}
    tok = tokenizers.Tokenizer(tokenizers.models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tok.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    tok.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=MAX_POSITIONS,
    )
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=MAX_POSITIONS,
        num_labels=len(labels),
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
        initializer_range=0.5,  # random weights that make texts differ
    )
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(config)
    if bias is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.copy_(torch.tensor(bias))
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny-stars"))


@pytest.fixture(scope="module")
def backend(tiny: Path) -> TransformersBackend:
    return TransformersBackend(str(tiny), batch_size=4, device="cpu")


def reference_probs(model_dir: Path, text: str, max_length: int = MAX_POSITIONS) -> list[float]:
    """The model's probabilities computed directly, one text, no batching."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        model_dir, local_files_only=True
    ).eval()
    enc = tokenizer([text], truncation=True, max_length=max_length, return_tensors="pt")
    with torch.inference_mode():
        return [float(x) for x in torch.softmax(model(**enc).logits, dim=-1)[0]]


def test_loads_a_local_directory_and_maps_star_labels(
    backend: TransformersBackend, tiny: Path
) -> None:
    assert backend.name == "transformers"
    assert backend.labels == ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]
    assert backend.label_map == {
        "1 star": N,
        "2 stars": N,
        "3 stars": U,
        "4 stars": P,
        "5 stars": P,
    }
    assert backend.device == "cpu"
    assert backend.max_length == MAX_POSITIONS


def test_scores_are_the_mapped_probabilities(backend: TransformersBackend, tiny: Path) -> None:
    texts = ["le guichet est ferme", "accueil tres bien", "la piscine est sale"]
    for text, s in zip(texts, backend.score(texts), strict=True):
        p = reference_probs(tiny, text)
        mass = {N: p[0] + p[1], U: p[2], P: p[3] + p[4]}
        best = max(mass, key=lambda k: mass[k])
        assert s.label is best
        assert s.confidence == pytest.approx(mass[best], abs=1e-5)
        assert s.score == pytest.approx(mass[P] - mass[N], abs=1e-5)
        assert -1 <= s.score <= 1


def test_texts_are_scored_in_batches_and_in_order(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [
        "le service est lent",
        "agents aimables",
        "la mairie",
        "piscine propre et accueil rapide",
        "attente tres long pas bien",
        "guichet",
        "les agents sont aimables et le service rapide",
        "mal",
        "sale",
        "le guichet est ferme",
    ]
    one_by_one = [backend.score([t])[0] for t in texts]
    calls: list[int] = []
    forward = backend.model.forward

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(int(kwargs["input_ids"].shape[0]))
        return forward(*args, **kwargs)

    monkeypatch.setattr(backend.model, "forward", counting)
    batched = backend.score(texts)
    assert calls == [4, 4, 2]  # batch_size 4: padding inside a batch changes nothing
    for a, b in zip(batched, one_by_one, strict=True):
        assert a.label is b.label
        assert a.score == pytest.approx(b.score, abs=1e-5)
        assert a.confidence == pytest.approx(b.confidence, abs=1e-5)


def test_long_texts_are_truncated_to_the_model_length(
    backend: TransformersBackend, tiny: Path
) -> None:
    words = (WORDS * 20)[:300]
    long_text = " ".join(words)
    head = " ".join(words[: MAX_POSITIONS - 2])  # [CLS] … [SEP]
    [s] = backend.score([long_text])  # 300 words > 32 positions: would fail untruncated
    [h] = backend.score([head])
    assert s.score == pytest.approx(h.score, abs=1e-5)
    shorter = TransformersBackend(str(tiny), device="cpu", max_length=8)
    assert shorter.max_length == 8
    p = reference_probs(tiny, long_text, max_length=8)
    [t] = shorter.score([long_text])
    assert t.score == pytest.approx(p[3] + p[4] - p[0] - p[1], abs=1e-5)


def test_empty_texts_are_neutral_without_the_model(backend: TransformersBackend) -> None:
    scores = backend.score(["", "  ", "accueil"])
    assert scores[0].label is U
    assert scores[0].confidence < 0.1
    assert scores[1] == scores[0]
    assert scores[2].confidence > 0.1
    assert backend.score([]) == []


def test_an_explicit_label_map_for_label_n_models(tmp_path: Path) -> None:
    three = {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    # logits = bias: P(LABEL_2) is the largest
    d = save_tiny_model(tmp_path / "three", id2label=three, bias=[0.0, 1.0, 2.0])
    with pytest.raises(SentimentBackendError, match="CITELA_SENTIMENT_LABEL_MAP"):
        TransformersBackend(str(d), device="cpu")
    b = TransformersBackend(
        str(d), label_map="negative=LABEL_0;neutral=LABEL_1;positive=LABEL_2", device="cpu"
    )
    e = [pow(2.718281828459045, x) for x in (0.0, 1.0, 2.0)]
    p = [x / sum(e) for x in e]
    [s] = b.score(["la mairie"])
    assert s.label is P
    assert s.confidence == pytest.approx(p[2], abs=1e-5)
    assert s.score == pytest.approx(p[2] - p[0], abs=1e-5)
    # the same model read the other way round, by label ids
    flipped = TransformersBackend(str(d), label_map="positive=0;neutral=1;negative=2")
    [f] = flipped.score(["la mairie"])
    assert f.label is N
    assert f.score == pytest.approx(-s.score, abs=1e-6)
    assert flipped.model_version != b.model_version  # the mapping is part of the version
    with pytest.raises(SentimentBackendError, match=re.escape("unmapped")):
        TransformersBackend(str(d), label_map="negative=LABEL_0;positive=LABEL_2")


def test_a_custom_mapping_of_stars(tmp_path: Path) -> None:
    # all the mass on "3 stars": neutral; remapped "3 stars" → positive it changes
    d = save_tiny_model(tmp_path / "mid", bias=[0.0, 0.0, 6.0, 0.0, 0.0])
    assert TransformersBackend(str(d)).score(["accueil"])[0].label is U
    custom = "negative=1 star,2 stars;positive=3 stars,4 stars,5 stars"
    assert TransformersBackend(str(d), label_map=custom).score(["accueil"])[0].label is P


def test_the_model_version_records_name_and_files(tiny: Path, tmp_path: Path) -> None:
    a = TransformersBackend(str(tiny), device="cpu")
    name, _, digest = a.model_version.rpartition("@")
    assert name == str(tiny)  # the config's _name_or_path
    assert re.fullmatch(r"[0-9a-f]{12}", digest)
    assert TransformersBackend(str(tiny)).model_version == a.model_version
    d = save_tiny_model(tmp_path / "retrained", seed=0)
    first = TransformersBackend(str(d)).model_version
    save_tiny_model(d, seed=1)  # new weights in the same directory
    assert TransformersBackend(str(d)).model_version != first


def test_bad_model_directories_are_explained(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="cannot load a text-classification model"):
        TransformersBackend(str(empty))
    with pytest.raises(ModelLoadError, match="does not exist"):
        TransformersBackend(str(tmp_path / "missing"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=re.escape(str(broken))):
        TransformersBackend(str(broken))


def test_a_hub_id_is_never_downloaded() -> None:
    with pytest.raises(ModelLoadError, match="not in the local cache; downloads are off"):
        TransformersBackend("cmarkea/distilcamembert-base-sentiment")


def test_devices(tiny: Path) -> None:
    assert TransformersBackend(str(tiny), device="auto").device in ("cpu", "cuda")
    if torch.cuda.is_available():
        [s] = TransformersBackend(str(tiny), device="cuda").score(["accueil"])
        [c] = TransformersBackend(str(tiny), device="cpu").score(["accueil"])
        assert s.score == pytest.approx(c.score, abs=1e-4)
    else:
        with pytest.raises(SentimentBackendError, match="no CUDA device"):
            TransformersBackend(str(tiny), device="cuda")
    with pytest.raises(SentimentBackendError, match="auto, cpu or cuda"):
        TransformersBackend(str(tiny), device="tpu")


def test_the_factory_builds_it_from_the_settings(tiny: Path) -> None:
    settings = AnalyticsSettings(
        _env_file=None,
        sentiment_model=str(tiny),
        sentiment_label_map=STAR_MAP,
        sentiment_batch_size=2,
        sentiment_device="cpu",
        sentiment_max_length=16,
    )
    b = create_backend(settings)
    assert isinstance(b, TransformersBackend)
    assert (b.batch_size, b.max_length, b.device) == (2, 16, "cpu")
    assert b.model_version.startswith(str(tiny) + "@")
    assert len(b.score(["accueil tres bien", "guichet ferme", "sale"])) == 3
