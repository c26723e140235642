"""Sentiment benchmark: macro-F1, per-class precision / recall / F1 and comments/s of each
available backend on the project's labelled French comments.

    uv run python bench/sentiment_f1.py
    uv run python bench/sentiment_f1.py --model /models/distilcamembert-base-sentiment \\
        --label-map 'negative=1 star,2 stars;neutral=3 stars;positive=4 stars,5 stars'

The figure that counts is the TEST split (never used to tune anything); the TUNE split, on
which the built-in scorer's rules were tuned, is printed apart, for comparison only.
Backends: the built-in French scorer (``lexicon-fr``, always), and the ``transformers``
backend when a model is given (``--model`` or ``CITELA_SENTIMENT_MODEL``) and the
``transformers`` extra is installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence

from citela_analytics.sentiment import Score, SentimentBackend
from citela_analytics.sentiment.dataset import LabelledComment, load_labelled
from citela_analytics.sentiment.metrics import LABELS, Report, classification_report

TARGET = 0.80


def throughput(score: Callable[[list[str]], list[Score]], texts: list[str], batch: int) -> float:
    """Comments per second, scoring ``texts`` in batches, repeated for at least a second."""
    n = 0
    start = time.perf_counter()
    while True:
        for i in range(0, len(texts), batch):
            score(texts[i : i + batch])
        n += len(texts)
        elapsed = time.perf_counter() - start
        if elapsed >= 1.0:
            return n / elapsed


def evaluate(
    backend: SentimentBackend, rows: Sequence[LabelledComment], batch: int
) -> tuple[Report, float]:
    texts = [r.text for r in rows]
    predicted = [s.label for s in backend.score(texts)]
    report = classification_report([r.label for r in rows], predicted)
    return report, throughput(backend.score, texts, batch)


def print_report(title: str, report: Report, per_s: float) -> None:
    print(
        f"  {title}: n={report.n}  macro-F1 {report.macro_f1:.3f}  accuracy "
        f"{report.accuracy:.3f}  {per_s:,.0f} comments/s"
    )
    print("    class      precision  recall  F1     support")
    for label in LABELS:
        f = report.per_class[label]
        print(
            f"    {label.value:<9}  {f.precision:9.3f}  {f.recall:6.3f}  {f.f1:.3f}  {f.support:7d}"
        )
    header = "".join(f"{p.value[:3]:>6}" for p in LABELS)
    print(f"    confusion (rows: truth, columns: predicted){header}")
    for t in LABELS:
        cells = "".join(f"{report.confusion[(t, p)]:6d}" for p in LABELS)
        print(f"    {t.value:<43}{cells}")


def backends(args: argparse.Namespace) -> list[SentimentBackend]:
    from citela_analytics.sentiment.lexicon import LexiconBackend

    out: list[SentimentBackend] = [LexiconBackend()]
    model = args.model or os.environ.get("CITELA_SENTIMENT_MODEL")
    if model:
        from citela_analytics.sentiment.transformers_backend import TransformersBackend

        out.append(
            TransformersBackend(
                model,
                label_map=args.label_map or os.environ.get("CITELA_SENTIMENT_LABEL_MAP"),
                batch_size=args.batch_size,
                device=args.device,
            )
        )
    else:
        print("(transformers backend: no model given, --model or CITELA_SENTIMENT_MODEL)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="transformers model directory or cached hub id")
    parser.add_argument("--label-map", help="model labels → ours (see CITELA_SENTIMENT_LABEL_MAP)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    test, tune = load_labelled("test"), load_labelled("tune")
    print(f"labelled French comments: {len(test)} test (measured), {len(tune)} tune")
    ok = True
    for backend in backends(args):
        print(f"\n== {backend.name}  ({backend.model_version})")
        report, per_s = evaluate(backend, test, args.batch_size)
        print_report("TEST split", report, per_s)
        tune_report, tune_per_s = evaluate(backend, tune, args.batch_size)
        print_report("tune split (rules tuned here: not a measure)", tune_report, tune_per_s)
        if backend.name == "lexicon-fr" and report.macro_f1 < TARGET:
            ok = False
            print(f"  !! below the target macro-F1 {TARGET} on the test split")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
