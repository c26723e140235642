"""Explaining a gap: French themes, sentiment distribution, representative quotes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from citela_analytics.domain.explain import Comment, distribution, explain
from citela_analytics.domain.french import STOP_WORDS, tokens
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
