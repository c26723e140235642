"""The two 1–5 scales of a feedback, with the French labels shown to citizens.

Satisfaction follows the usual five-point Likert wording of French public-service surveys
(« Très insatisfait » … « Très satisfait »); importance the matching wording about how much
the service matters to the person.
"""

from __future__ import annotations

from collections.abc import Mapping

SATISFACTION_LABELS: Mapping[int, str] = {
    1: "Très insatisfait",
    2: "Insatisfait",
    3: "Ni satisfait ni insatisfait",
    4: "Satisfait",
    5: "Très satisfait",
}

IMPORTANCE_LABELS: Mapping[int, str] = {
    1: "Pas du tout important",
    2: "Peu important",
    3: "Moyennement important",
    4: "Important",
    5: "Très important",
}

SCALE_MIN = 1
SCALE_MAX = 5


def describe(labels: Mapping[int, str]) -> str:
    """``1 = Très insatisfait, 2 = …`` for the OpenAPI descriptions."""
    return ", ".join(f"{k} = {v}" for k, v in sorted(labels.items()))


SATISFACTION_DOC = "How satisfied the person is, 1 to 5: " + describe(SATISFACTION_LABELS) + "."
IMPORTANCE_DOC = (
    "How much the service matters to them, 1 to 5: " + describe(IMPORTANCE_LABELS) + "."
)
