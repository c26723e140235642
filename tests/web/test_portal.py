"""The citizen portal at the HTTP boundary, over the Aire Cantilienne harvested from recorded
open data: find one's commune, browse an authority's catalogue, read a service's page, give
feedback (refusals keep what was typed)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from urllib.parse import quote

import pytest

from citela_web.filters import WEEKDAYS, french_date
from tests.feedback.support import PASSWORD
from tests.web.portal_support import (
    CCAS_CHANTILLY,
    CHANTILLY,
    KEY_INPUT,
    LIBRARY,
    MAIRIE_COYE,
    Portal,
    entry_url,
    feedback_url,
    give,
    links,
    page,
    portal_platform,
    text_of,
    today_in_paris,
)


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    with portal_platform(tmp_path_factory.mktemp("portal")) as p:
        p.seed(
            epci_rules={"public_averages": True, "min_answers": 2, "comment_max_length": 200},
            town_rules={"comment_required": True},
        )
        yield p


@pytest.fixture(autouse=True)
def fresh_browser(portal: Portal) -> None:
    portal.client.cookies.clear()


# --- finding one's authority -----------------------------------------------------------------


def test_the_home_page_searches_a_commune_and_lists_the_authorities(portal: Portal) -> None:
    html = page(portal, "/")
    assert '<form method="get" action="/territoires"' in html
    assert re.search(r'<label for="q">Nom de la commune ou code postal', html)
    text = text_of(html)
    assert "Communauté de communes de l'Aire Cantilienne" in text
    assert "Ville de Chantilly" in text
    assert f"/c/{portal.epci}/" in links(html)
    assert f"/c/{portal.town}/" in links(html)
    # each authority says what it covers, by the names its catalogue holds
    assert "CC de l'Aire Cantilienne (11 communes)" in text


def test_a_commune_is_found_by_name_and_by_postal_code_in_each_of_its_catalogues(
    portal: Portal,
) -> None:
    by_name = page(portal, "/territoires?q=chantilly")
    assert "Chantilly (60500)" in text_of(by_name)
    # Chantilly is in the EPCI's catalogue and has its own: both are offered.
    assert f"/c/{portal.epci}/?territoire={CHANTILLY}" in links(by_name)
    assert f"/c/{portal.town}/?territoire={CHANTILLY}" in links(by_name)

    by_postal_code = text_of(page(portal, "/territoires?q=60500"))
    assert "Chantilly (60500)" in by_postal_code
    assert "Vineuil-Saint-Firmin (60500)" in by_postal_code  # shares the postal code
    assert "2 communes trouvées" in by_postal_code

    coye = page(portal, "/territoires?q=Coye-la-For%C3%AAt")
    assert "Coye-la-Forêt (60580)" in text_of(coye)
    assert f"/c/{portal.epci}/?territoire=60172" in links(coye)
    assert f"/c/{portal.town}/?territoire=60172" not in links(coye)  # not the town's territory

    # Beauvais is in the harvested Oise geography, but no authority here serves it.
    assert "Aucune commune de la plateforme ne correspond" in text_of(
        page(portal, "/territoires?q=beauvais")
    )
    assert "Saisissez au moins 2 caractères" in text_of(page(portal, "/territoires?q=c"))


# --- an authority's catalogue ----------------------------------------------------------------


def test_the_authority_page_keeps_the_chosen_commune_and_shows_areas_and_events(
    portal: Portal,
) -> None:
    html = page(portal, f"/c/{portal.epci}/?territoire={CHANTILLY}")
    text = text_of(html)
    assert text.startswith("Accueil Communauté de communes de l'Aire Cantilienne")
    assert "Communauté de communes de l'Aire Cantilienne — Chantilly" in text
    assert '<option value="60141" selected>Chantilly</option>' in html
    assert '<option value="60346">Lamorlaye</option>' in html  # every commune of the EPCI
    # Policy areas with their counts, in Chantilly only (the CCAS and the concert).
    assert "Action sociale (1 fiche)" in text
    assert "Culture (1 fiche)" in text
    assert f"/c/{portal.epci}/services?domaine=Action+sociale&territoire={CHANTILLY}" in links(html)
    # The next events, dated in French, and the territory kept in every catalogue link.
    concert = today_in_paris() + timedelta(days=12)
    assert f"le {french_date(concert, weekday=True)}" in text
    assert "Concert au Potager des Princes" in text
    assert f"/c/{portal.epci}/evenements?territoire={CHANTILLY}" in links(html)
    assert 'aria-current="page">Accueil de la collectivité' in html

    whole = text_of(page(portal, f"/c/{portal.epci}/"))
    assert "Culture (2 fiches)" in whole  # the Gouvieux library too
    refused = page(portal, f"/c/{portal.epci}/?territoire=75056", status=404)
    assert "Ce territoire ne fait pas partie de cette collectivité." in text_of(refused)


def test_the_catalogue_is_browsed_by_policy_area_text_kind_and_commune(portal: Portal) -> None:
    base = f"/c/{portal.epci}/services"
    everything = text_of(page(portal, base))
    for title in (
        "Mairie - Coye-la-Forêt",
        "Centre communal d'action sociale (CCAS) - Chantilly",
        "Médiathèque de Gouvieux",
        "Horaires des bus de l'Aire Cantilienne",
    ):
        assert title in everything
    assert "Mairie - Fontaine-le-Port" not in everything  # Seine-et-Marne: not harvested

    culture = page(portal, f"{base}?domaine=Culture")
    assert '<option value="Culture" selected>Culture (2)</option>' in culture
    assert "Médiathèque de Gouvieux" in text_of(culture)
    assert "Mairie - Coye-la-Forêt" not in text_of(culture)

    searched = text_of(page(portal, f"{base}?q=mediatheque"))  # accents folded
    assert "Médiathèque de Gouvieux" in searched
    assert "Mairie - Coye-la-Forêt" not in searched

    datasets = page(portal, f"{base}?type=dataset")
    assert '<option value="dataset" selected>Jeu de données</option>' in datasets
    assert [t for t in ("Horaires des bus", "Médiathèque") if t in text_of(datasets)] == [
        "Horaires des bus"
    ]
    events = text_of(page(portal, f"{base}?type=evenement"))  # the French word works too
    assert "Concert au Potager des Princes" in events
    assert "Médiathèque" not in events

    in_coye = page(portal, f"{base}?territoire=60172")
    assert "Mairie - Coye-la-Forêt" in text_of(in_coye)
    assert "Médiathèque de Gouvieux" not in text_of(in_coye)
    assert entry_url(portal, MAIRIE_COYE) + "?territoire=60172" in links(in_coye)

    # Searched from Chantilly: Chantilly's answers first, then the rest of the territory's.
    from_chantilly = text_of(page(portal, f"{base}?q=mairie&territoire={CHANTILLY}"))
    assert "Aucune fiche à Chantilly ne correspond à ces critères." in from_chantilly
    assert from_chantilly.index("Ailleurs sur le territoire") < from_chantilly.index(
        "Mairie - Coye-la-Forêt"
    )

    nothing = text_of(page(portal, f"{base}?q=piscine+olympique"))
    assert "Aucune fiche ne correspond à ces critères." in nothing
    bad_cursor = page(portal, f"{base}?curseur=pas-un-curseur", status=400)
    assert "Cette page de résultats n'existe plus." in text_of(bad_cursor)


def test_upcoming_events_are_listed_with_french_dates(portal: Portal) -> None:
    text = text_of(page(portal, f"/c/{portal.epci}/evenements"))
    day = today_in_paris() + timedelta(days=12)
    assert french_date(day, weekday=True) in text
    assert "Concert au Potager des Princes" in text
    # The recorded DATAtourisme event ended in 2025: it is not upcoming.
    assert "Aucun événement" not in text


# --- one entry -------------------------------------------------------------------------------


def test_an_entry_shows_address_hours_with_today_marked_contacts_and_source(
    portal: Portal,
) -> None:
    html = page(portal, entry_url(portal, LIBRARY))
    text = text_of(html)
    assert "Place Amic 60270 Gouvieux" in text
    today = WEEKDAYS[today_in_paris().weekday()].capitalize()
    rows = re.findall(r"<tr([^>]*)>\s*<th scope=\"row\">(.*?)</th>", html, re.S)
    assert len(rows) == 7
    marked = [re.sub(r"<[^>]+>", "", label).strip() for attrs, label in rows if "today" in attrs]
    assert marked == [f"{today} (aujourd'hui)"]  # said in words, not by colour alone
    assert 'class="today" aria-current="date"' in html
    assert "10 h 00–18 h 00" in text
    assert 'href="tel:+33344579036"' in html
    assert 'href="mailto:mediatheque@gouvieux.fr"' in html
    assert "Annuaire de l'administration (Service-Public.fr)" in text
    assert "Dernière mise à jour : 2 octobre 2026" in text
    assert f"/c/{portal.epci}/donner-un-avis?service={quote(LIBRARY, safe='')}" in links(html)

    mairie = page(portal, entry_url(portal, MAIRIE_COYE))
    # Open on Tuesday morning and evening, Wednesday and Friday mornings.
    assert re.search(r"Mardi.*?09 h 00–12 h 00, 18 h 00–19 h 00", mairie, re.S)
    assert re.search(r"Lundi</th>\s*<td>Fermé", mairie)
    assert "vacances scolaires" in text_of(mairie)
    assert 'href="tel:+33164383052"' in mairie


def test_unknown_authority_or_entry_is_a_french_404(portal: Portal) -> None:
    for url in (
        "/c/commune-inconnue/",
        "/c/commune-inconnue/services",
        entry_url(portal, "service-public:n-existe-pas"),
        # The town's catalogue does not hold the EPCI's library.
        entry_url(portal, LIBRARY, tenant=portal.town),
    ):
        html = page(portal, url, status=404)
        assert "<h1>Page introuvable</h1>" in html
    assert "Cette collectivité n'existe pas sur Citéla." in text_of(
        page(portal, "/c/commune-inconnue/", status=404)
    )
    assert "Ce service n'existe pas dans le catalogue de la collectivité." in text_of(
        page(portal, entry_url(portal, "service-public:n-existe-pas"), status=404)
    )


# --- giving feedback -------------------------------------------------------------------------


def test_the_form_asks_to_sign_in_then_shows_scales_and_rules_before_sending(
    portal: Portal,
) -> None:
    r = portal.client.get(feedback_url(portal, MAIRIE_COYE), follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/compte/connexion?suivant=" + quote(
        feedback_url(portal, MAIRIE_COYE), safe=""
    )
    address = portal.register("Lucie")
    portal.client.get(portal.confirmation_path(address))
    back = portal.sign_in(address, suivant=feedback_url(portal, MAIRIE_COYE))
    assert back.headers["location"] == feedback_url(portal, MAIRIE_COYE)

    html = page(portal, feedback_url(portal, MAIRIE_COYE))
    text = text_of(html)
    assert "Donner mon avis sur « Mairie - Coye-la-Forêt »" in text
    for legend in ("Votre satisfaction", "L'importance de ce service pour vous"):
        assert re.search(rf"<fieldset[^>]*>\s*<legend>{re.escape(legend)}", unescape(html))
    for label in ("Très insatisfait", "Ni satisfait ni insatisfait", "Très important"):
        assert label in text
    assert len(re.findall(r'type="radio" id="satisfaction-\d"', html)) == 5
    # The rules come before the form.
    assert text.index("Votre commentaire peut compter jusqu'à 200 caractères") < text.index(
        "Envoyer mon avis"
    )
    assert "Le commentaire est facultatif" in text
    town = text_of(page(portal, feedback_url(portal, CCAS_CHANTILLY, portal.town)))
    assert "Ville de Chantilly demande un commentaire" in town


def test_refused_submissions_keep_what_was_typed_and_explain_in_french(portal: Portal) -> None:
    portal.citizen("Hugo")
    long_comment = "L'accueil est aimable mais l'attente est longue. " * 6  # 300 characters
    r = give(portal, MAIRIE_COYE, satisfaction="2", importance="5", comment=long_comment)
    assert r.status_code == 422
    text = text_of(r.text)
    assert "Votre avis n'a pas été enregistré : certains champs sont à corriger." in text
    assert "Votre commentaire dépasse la longueur autorisée (200 caractères au plus)." in text
    assert f">{long_comment}</textarea>" in unescape(r.text)  # nothing typed is lost
    assert 'id="satisfaction-2" name="satisfaction" value="2" checked' in r.text
    assert 'id="importance-5" name="importance" value="5" checked' in r.text
    assert 'aria-describedby="comment-hint comment-error"' in r.text
    assert 'role="alert"' in r.text
    assert 'href="#comment"' in r.text

    missing = give(portal, MAIRIE_COYE, importance="4", comment="Très bon accueil.")
    assert missing.status_code == 422
    assert "Choisissez une note de satisfaction de 1 à 5." in text_of(missing.text)
    assert ">Très bon accueil.</textarea>" in missing.text
    assert 'href="#satisfaction-1"' in missing.text

    # The town wants a comment: the API refuses, the page says why in French.
    required = give(portal, CCAS_CHANTILLY, portal.town, satisfaction="4", importance="3")
    assert required.status_code == 422
    assert "Cette collectivité demande un commentaire" in text_of(required.text)
    assert 'id="satisfaction-4" name="satisfaction" value="4" checked' in required.text
    assert "/compte/" not in required.headers.get("location", "")


def test_a_form_without_its_csrf_token_is_refused(portal: Portal) -> None:
    portal.citizen("Ines")
    form = page(portal, feedback_url(portal, MAIRIE_COYE))
    key = KEY_INPUT.search(form)
    assert key is not None
    data = {"idempotency_key": key.group(1), "satisfaction": "5", "importance": "5"}
    refused = portal.form(feedback_url(portal, MAIRIE_COYE), data, csrf=False)
    assert refused.status_code == 403
    assert "Accès refusé" in refused.text
    forged = portal.form(feedback_url(portal, MAIRIE_COYE), {**data, "csrf": "x" * 43}, csrf=False)
    assert forged.status_code == 403
    mine = portal.client.get("/compte/")
    assert "Mairie - Coye-la-Forêt" not in text_of(mine.text)


def test_a_double_click_posts_one_feedback(portal: Portal) -> None:
    portal.citizen("Jules")
    form = page(portal, feedback_url(portal, LIBRARY))
    key = KEY_INPUT.search(form)
    assert key is not None
    data = {"idempotency_key": key.group(1), "satisfaction": "4", "importance": "4"}
    first = portal.form(feedback_url(portal, LIBRARY), data)
    second = portal.form(feedback_url(portal, LIBRARY), data)
    assert (first.status_code, second.status_code) == (303, 303)
    export = portal.client.get("/compte/export").json()
    assert [(f["entry_id"], len(f["history"])) for f in export["feedback"]] == [(LIBRARY, 1)]


def test_public_scores_appear_once_enough_people_answered(portal: Portal) -> None:
    # The town publishes no averages: its page shows none.
    town = text_of(page(portal, entry_url(portal, CCAS_CHANTILLY, tenant=portal.town)))
    assert "L'avis des usagers" not in town
    before = text_of(page(portal, entry_url(portal, CCAS_CHANTILLY)))
    assert "Pas encore assez d'avis pour publier une moyenne (0 réponse à ce jour)." in before
    for name, satisfaction in (("Nadia", "2"), ("Olivier", "5")):
        portal.client.cookies.clear()
        portal.citizen(name)
        r = give(portal, CCAS_CHANTILLY, satisfaction=satisfaction, importance="4")
        assert r.status_code == 303, r.text
    after = text_of(page(portal, entry_url(portal, CCAS_CHANTILLY)))
    assert "Satisfaction moyenne 3,5 sur 5" in after
    assert "Importance moyenne 4,0 sur 5" in after
    assert "Nombre de réponses 2" in after


def test_a_feedback_typed_while_the_session_ended_is_kept_through_signing_in(
    portal: Portal,
) -> None:
    address = portal.citizen("Maëlle")
    form = page(portal, feedback_url(portal, LIBRARY))
    key = KEY_INPUT.search(form)
    assert key is not None
    csrf = portal.csrf(feedback_url(portal, LIBRARY))
    comment = "Les horaires du samedi sont trop courts, sinon l'accueil est très agréable."
    # Both tokens expire (or are revoked) while the person types: only the CSRF cookie stays.
    for name in ("citela_session", "citela_refresh"):
        for cookie in [c for c in portal.client.cookies.jar if c.name == name]:
            portal.client.cookies.jar.clear(cookie.domain, cookie.path, cookie.name)
    typed = {
        "csrf": csrf,
        "idempotency_key": key.group(1),
        "satisfaction": "3",
        "importance": "5",
        "comment": comment,
    }
    refused = portal.client.post(feedback_url(portal, LIBRARY), data=typed, follow_redirects=False)
    assert refused.status_code == 401
    assert "Votre session a expiré avant l'envoi de votre avis" in text_of(refused.text)
    hidden = dict(
        re.findall(r'<input type="hidden" name="(brouillon_\w+)" value="([^"]*)"', refused.text)
    )
    assert hidden["brouillon_satisfaction"] == "3"
    assert html.unescape(hidden["brouillon_comment"]) == comment
    # Signing in from that page brings the form back with what was typed, not yet sent.
    back = portal.client.post(
        "/compte/connexion",
        data={
            "csrf": csrf,
            "email": address,
            "password": PASSWORD,
            "suivant": feedback_url(portal, LIBRARY),
            **{k: html.unescape(v) for k, v in hidden.items()},
        },
        follow_redirects=False,
    )
    assert back.status_code == 200, back.text[:500]
    assert "Votre avis n'est pas encore envoyé" in text_of(back.text)
    assert comment in html.unescape(back.text)
    assert re.search(r'name="satisfaction" value="3"[^>]*checked', back.text)
    assert portal.client.get("/compte/export").json()["feedback"] == []  # nothing sent yet
    sent = portal.form(
        feedback_url(portal, LIBRARY),
        {"idempotency_key": key.group(1), "satisfaction": "3", "importance": "5",
         "comment": comment},
    )  # fmt: skip
    assert sent.status_code == 303
    [mine] = portal.client.get("/compte/export").json()["feedback"]
    assert mine["comment"] == comment
