"""Explaining a gap: French themes, sentiment distribution, representative quotes, the report."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

from citela_analytics.domain import report
from citela_analytics.domain.chart import matrix_svg
from citela_analytics.domain.explain import Comment, distribution, explain
from citela_analytics.domain.french import STOP_WORDS, tokens
from citela_analytics.domain.matrix import EntryInfo, MatrixSettings, Scope, build_matrix
from citela_analytics.domain.stats import Sums
from citela_analytics.domain.themes import themes
from citela_common.events.models import SentimentLabel

NEGATIVE = [
    "Le temps d'attente au guichet est beaucoup trop long.",
    "Temps d'attente interminable : une heure debout !",
    "Les horaires d'ouverture ne conviennent pas à ceux qui travaillent.",
    "Horaires d'ouverture trop restreints, fermé le samedi.",
    "Impossible d'obtenir un rendez-vous, et le temps d'attente est énorme.",
    "L'accueil téléphonique est injoignable ; les horaires d’ouverture changent sans cesse.",
    "Prise de rendez-vous en ligne impossible.",
    "La prise de rendez-vous ne marche jamais.",
]
POSITIVE = [
    "Personnel aimable et accueil chaleureux.",
    "Accueil chaleureux, personnel compétent.",
    "Rapide et efficace, personnel aimable.",
    "Personnel aimable, merci pour votre patience.",
]
ELSEWHERE = [
    "La piscine est propre et les maîtres-nageurs attentifs.",
    "Médiathèque bien fournie, mais le service est lent.",
    "Le service de la crèche est parfait.",
]


def test_themes_are_meaningful_french_phrases() -> None:
    found = themes(NEGATIVE, POSITIVE + ELSEWHERE)
    phrases = [t.phrase for t in found]
    assert phrases[:2] == ["temps d'attente", "horaires d'ouverture"] or set(phrases[:2]) == {
        "temps d'attente",
        "horaires d'ouverture",
    }
    assert "prise de rendez-vous" in phrases
    # the typographic apostrophe and the plural fold into the same theme
    horaires = next(t for t in found if t.phrase == "horaires d'ouverture")
    assert horaires.comments == 3
    assert horaires.share == 3 / len(NEGATIVE)
    # no stop word, no lone word swallowed by a longer phrase of the same comments
    for t in found:
        words = tokens(t.phrase)
        assert words[0] not in STOP_WORDS
        assert words[-1] not in STOP_WORDS
    assert "attente" not in phrases
    assert "ouverture" not in phrases
    assert "trop" not in phrases
    assert "long" not in phrases


def test_a_phrase_everyone_uses_is_no_theme_and_the_service_name_is_excluded() -> None:
    group = [f"La mairie : {c}" for c in NEGATIVE]
    others = [f"La mairie annexe, {c}" for c in ELSEWHERE * 3]
    phrases = [t.phrase for t in themes(group, others, exclude=["Mairie de Pau"])]
    assert "mairie" not in phrases
    assert "temps d'attente" in phrases
    assert themes([], others) == []
    assert themes(["un seul commentaire sur l'accueil"], others) == []  # needs 2 comments


def test_explanation_of_a_cell() -> None:
    at = datetime(2026, 11, 2, tzinfo=UTC)
    comments = [
        Comment(f"n{i}", text, at + timedelta(hours=i), SentimentLabel.NEGATIVE, -0.8, 0.9)
        for i, text in enumerate(NEGATIVE)
    ] + [
        Comment(f"p{i}", text, at, SentimentLabel.POSITIVE, 0.7, 0.8)
        for i, text in enumerate(POSITIVE)
    ]
    comments += [
        Comment("u1", "Pas encore lu.", at),
        Comment("z1", "Rien à signaler.", at, SentimentLabel.NEUTRAL, 0.0, 0.5),
        Comment("dup", NEGATIVE[0].upper(), at, SentimentLabel.NEGATIVE, -0.9, 0.9),
    ]
    ex = explain(comments, ELSEWHERE)
    assert ex.comments == len(comments)
    d = ex.sentiment
    assert (d.negative, d.neutral, d.positive, d.unscored) == (9, 1, 4, 1)
    assert d.share(SentimentLabel.POSITIVE) == 4 / 14
    assert {"temps d'attente", "horaires d'ouverture"} <= {t.phrase for t in ex.negative_themes}
    assert "personnel aimable" in {t.phrase for t in ex.positive_themes}
    quotes = ex.quotes[SentimentLabel.NEGATIVE]
    assert len(quotes) == 3
    assert len({q.text.casefold() for q in quotes}) == 3  # one text, one quote
    assert any("temps d'attente" in q.text.lower() for q in quotes)
    assert all(q.text in NEGATIVE or q.feedback_id == "dup" for q in quotes)
    assert distribution([]).share(SentimentLabel.NEGATIVE) is None


def sample_matrix() -> tuple[object, object]:
    cells: dict[str, Sums] = {}
    shapes = {"a": (5, 1, 12), "b": (5, 5, 12), "c": (1, 1, 12), "d": (1, 5, 12), "e": (3, 3, 3)}
    for key, (imp, sat, n) in shapes.items():
        for i in range(n):
            cells[key] = cells.get(key, Sums()) + Sums.of(max(1, imp - i % 2), min(5, sat + i % 2))
    infos = {k: EntryInfo(f"Service {k.upper()} & <co>", "Culture") for k in shapes}
    return build_matrix(cells, infos, MatrixSettings(min_answers=10)), cells


def test_the_chart_is_well_formed_svg() -> None:
    matrix, _ = sample_matrix()
    svg = matrix_svg(matrix.services, matrix.crosshairs, title="Matrice")  # type: ignore[attr-defined]
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = "".join(root.itertext())
    for label in ("À traiter en priorité", "À maintenir", "Secondaire", "Surinvestissement"):
        assert label in texts
    circles = root.findall(".//{http://www.w3.org/2000/svg}circle")
    assert len(circles) == 4  # the cell without enough answers is not drawn


def test_the_report_is_french_and_printable() -> None:
    matrix, _ = sample_matrix()
    at = datetime(2026, 11, 28, 9, tzinfo=UTC)
    first = matrix.priorities(Scope.SERVICE)[0]  # type: ignore[attr-defined]
    ex = explain(
        [
            Comment(f"n{i}", t, at, SentimentLabel.NEGATIVE, -0.8, 0.9)
            for i, t in enumerate(NEGATIVE)
        ],
        ELSEWHERE,
    )
    html = report.render(
        report.ReportInput(
            tenant="agglo-pau",
            start=date(2026, 9, 1),
            end=date(2026, 11, 1),
            generated_at=at,
            matrix=matrix,  # type: ignore[arg-type]
            explanations={first.key: ex},
        )
    )
    assert '<html lang="fr">' in html
    assert "du 1er septembre 2026 au 1er novembre 2026" in html
    assert "édition du 28 novembre 2026" in html
    assert "Prio. 1" in html
    assert "À traiter en priorité" in html
    assert "&lt;co&gt;" in html
    assert "<co>" not in html
    assert "temps d&#x27;attente" in html  # the explanation of Prio. 1
    assert re.search(r"\d,\d\d", html)  # French decimal commas
    assert "pas encore le minimum de 10 réponses" in html
    assert "@page" in html
    assert "<svg" in html
    svg = html[html.index("<svg") : html.index("</svg>") + 6]
    ET.fromstring(svg)
