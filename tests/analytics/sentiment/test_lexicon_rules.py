"""The built-in French scorer's rules, one phenomenon at a time."""

from __future__ import annotations

import pytest

from citela_analytics.sentiment import Score, SentimentBackend, SentimentLabel
from citela_analytics.sentiment.lexicon import LexiconBackend, Params

NEG, NEU, POS = SentimentLabel.NEGATIVE, SentimentLabel.NEUTRAL, SentimentLabel.POSITIVE


@pytest.fixture(scope="module")
def scorer() -> LexiconBackend:
    return LexiconBackend()


def one(scorer: LexiconBackend, text: str) -> Score:
    return scorer.score([text])[0]


def test_it_is_a_sentiment_backend(scorer: LexiconBackend) -> None:
    backend: SentimentBackend = scorer
    assert backend.name == "lexicon-fr"
    assert backend.model_version.startswith("1+")
    scores = backend.score(["Accueil très agréable.", "", "Guichet fermé, personne."])
    assert [s.label for s in scores] == [POS, NEU, NEG]
    for s in scores:
        assert -1 <= s.score <= 1
        assert 0 <= s.confidence <= 1
    assert backend.score([]) == []


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "…", "?!", "😀"])
def test_empty_text_is_neutral_with_low_confidence(scorer: LexiconBackend, text: str) -> None:
    s = one(scorer, text)
    assert s.label is NEU
    assert s.score == 0
    assert s.confidence <= 0.1


def test_a_factual_comment_is_neutral(scorer: LexiconBackend) -> None:
    s = one(scorer, "La mairie est ouverte du lundi au vendredi de 8h30 à 12h.")
    assert s.label is NEU
    assert s.confidence >= 0.5  # no sentiment word at all: plainly factual


@pytest.mark.parametrize(
    ("plain", "negated"),
    [
        ("Le personnel est aimable.", "Le personnel n'est pas aimable."),
        ("L'accueil est agréable.", "L'accueil n'est jamais agréable."),
        ("Les locaux sont propres.", "Les locaux ne sont plus propres."),
        ("Le site est pratique.", "Le site n'est guère pratique."),
        ("Service efficace.", "Service pas efficace du tout."),
    ],
)
def test_negation_flips_praise(scorer: LexiconBackend, plain: str, negated: str) -> None:
    assert one(scorer, plain).label is POS
    assert one(scorer, negated).label is NEG


@pytest.mark.parametrize(
    "text",
    [
        "Aucun problème avec la déchèterie.",
        "Pas de souci, dossier traité.",
        "Sans attente, c'est appréciable.",
        "Je n'ai jamais eu de problème avec la crèche.",
        "Zéro attente au guichet.",
        "Pas mal du tout, la nouvelle médiathèque.",
        "Rien à redire.",
    ],
)
def test_negated_complaints_praise(scorer: LexiconBackend, text: str) -> None:
    assert one(scorer, text).label is POS


@pytest.mark.parametrize(
    "text",
    [
        "Jamais de réponse à mes courriers.",
        "Le CCAS ne répond pas au téléphone.",
        "Aucune réponse depuis trois mois.",
        "On n'a eu aucune explication.",
        "Le bus ne passe plus le dimanche.",
        "Toujours pas de place en crèche.",
    ],
)
def test_what_is_expected_but_missing_complains(scorer: LexiconBackend, text: str) -> None:
    assert one(scorer, text).label is NEG


def test_an_expected_thing_that_is_there_is_not_praise(scorer: LexiconBackend) -> None:
    assert one(scorer, "J'ai reçu une réponse du service urbanisme.").label is NEU


def test_negation_scope_ends_with_the_clause(scorer: LexiconBackend) -> None:
    analysis = scorer.analyse("Pas de file d'attente, et un accueil agréable.")
    agreable = next(i for i in analysis.items if i.text == "agreable")
    assert not agreable.negated
    assert analysis.score.label is POS


def test_jamais_aussi_is_emphatic_not_negative(scorer: LexiconBackend) -> None:
    assert one(scorer, "Je n'ai jamais été aussi bien accueilli.").label is POS


def test_intensifiers_strengthen_and_attenuators_soften(scorer: LexiconBackend) -> None:
    plain = one(scorer, "L'accueil est agréable.").score
    very = one(scorer, "L'accueil est très agréable.").score
    really = one(scorer, "L'accueil est vraiment agréable.").score
    bit = one(scorer, "L'accueil est assez agréable.").score
    assert very > plain
    assert really > plain
    assert 0 < bit < plain
    dirty = one(scorer, "Les vestiaires sont sales.").score
    very_dirty = one(scorer, "Les vestiaires sont vraiment très sales.").score
    a_bit_dirty = one(scorer, "Les vestiaires sont un peu sales.").score
    assert very_dirty < dirty < a_bit_dirty < 0


def test_trop_complains_alone_and_intensifies_praise(scorer: LexiconBackend) -> None:
    assert one(scorer, "Les horaires sont trop courts.").label is NEG
    assert one(scorer, "Horaires trop courts pour les gens qui travaillent.").label is NEG
    assert one(scorer, "trop bien la piscine").label is POS


def test_the_clause_after_mais_weighs_more(scorer: LexiconBackend) -> None:
    assert one(scorer, "Le personnel est aimable, mais l'attente est interminable.").label is NEG
    assert one(scorer, "L'attente est longue, mais le personnel est adorable.").label is POS
    assert one(scorer, "Agents sympathiques. Par contre, les locaux sont sales.").label is NEG
    assert one(scorer, "Horaires un peu courts, cependant l'accueil est parfait.").label is POS


def test_a_concession_weighs_less(scorer: LexiconBackend) -> None:
    text = "Même si l'attente est un peu longue, l'équipe est formidable et efficace."
    assert one(scorer, text).label is POS


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Temps d'attente interminable au guichet.", NEG),
        ("Le standard est injoignable.", NEG),
        ("Mairie toujours fermée le samedi.", NEG),
        ("Jamais de réponse.", NEG),
        ("Guichet fermé à 16h.", NEG),
        ("File d'attente jusque dans la rue.", NEG),
        ("Personnel aimable.", POS),
        ("Accueil chaleureux.", POS),
        ("Rapide et efficace.", POS),
        ("Parc bien entretenu.", POS),
        ("Vestiaires propres.", POS),
        ("Toilettes sales.", NEG),
        ("Carrefour dangereux pour les vélos.", NEG),
        ("Horaires trop courts.", NEG),
        ("Nids de poule partout.", NEG),
        ("Le site plante tout le temps.", NEG),
    ],
)
def test_domain_phrases(scorer: LexiconBackend, text: str, label: SentimentLabel) -> None:
    assert one(scorer, text).label is label


def test_phrases_match_inflected_forms(scorer: LexiconBackend) -> None:
    assert one(scorer, "Les piscines sont toujours fermées.").label is NEG
    assert one(scorer, "Des animatrices attentives et souriantes.").label is POS
    assert one(scorer, "Les agents sont compétents et serviables.").label is POS


@pytest.mark.parametrize(
    ("accented", "plain"),
    [
        ("Accueil désagréable et équipe débordée.", "accueil desagreable et equipe debordee"),
        ("Très efficace, réponse rapide !", "TRES EFFICACE, REPONSE RAPIDE !"),
        ("L’agent était méprisant.", "l'agent etait meprisant"),
    ],
)
def test_accents_case_and_apostrophes_do_not_matter(
    scorer: LexiconBackend, accented: str, plain: str
) -> None:
    a, b = one(scorer, accented), one(scorer, plain)
    assert a.label is b.label
    assert a.label is not NEU


def test_sms_spellings(scorer: LexiconBackend) -> None:
    assert one(scorer, "mairie tjrs fermee c nul").label is NEG
    assert one(scorer, "accueil top, rdv rapide, bcp de patience merci").label is POS


def test_waiting_times(scorer: LexiconBackend) -> None:
    assert one(scorer, "J'attends depuis trois mois.").label is NEG
    assert one(scorer, "Six semaines pour un simple certificat.").label is NEG
    assert one(scorer, "Dossier réglé en 10 minutes.").label is POS
    assert one(scorer, "La piscine ouvre à 12 h.").label is NEU


def test_irony_in_a_negative_comment(scorer: LexiconBackend) -> None:
    assert one(scorer, "Bravo la mairie, trois mois pour une réponse.").label is NEG
    assert one(scorer, "Quelle efficacité : dossier perdu deux fois.").label is NEG
    assert one(scorer, "Génial, encore une fermeture.").label is NEG
    # the same words, sincere
    assert one(scorer, "Bravo à l'équipe de la médiathèque !").label is POS
    assert one(scorer, "Génial, la nouvelle piscine.").label is POS


def test_a_question_asks_more_than_it_judges(scorer: LexiconBackend) -> None:
    assert one(scorer, "Le cadastre en ligne est-il à jour ?").label is NEU


def test_lukewarm_is_neutral(scorer: LexiconBackend) -> None:
    assert one(scorer, "Service correct, sans plus.").label is NEU
    assert one(scorer, "Ni satisfait ni mécontent.").label is NEU


def test_confidence_grows_with_evidence(scorer: LexiconBackend) -> None:
    weak = one(scorer, "Accueil correct et plutôt agréable.")
    strong = one(scorer, "Accueil exceptionnel, personnel adorable, service impeccable !")
    assert weak.label is strong.label is POS
    assert strong.confidence > weak.confidence
    assert strong.score > weak.score


def test_explanations_name_the_rules(scorer: LexiconBackend) -> None:
    text = "Le personnel n'est pas aimable, mais l'accueil est très rapide."
    why = scorer.analyse(text).explain()
    assert "neg:pas" in why
    assert "before:mais" in why
    assert "x1.5:tres" in why


def test_model_version_follows_the_rules() -> None:
    a, b = LexiconBackend(), LexiconBackend()
    assert a.model_version == b.model_version
    other = LexiconBackend(Params(threshold_pos=0.5))
    assert other.model_version != a.model_version
