"""The account pages at the HTTP boundary: register, confirm through the mailed link, sign in
and out, my feedback (change, retract), export, deletion; nobody sees another's comment."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from typing import Any

import pytest

from citela_common.auth import TokenService, TokenType
from citela_web.session import ACCESS_COOKIE, REFRESH_COOKIE
from tests.feedback.support import PASSWORD
from tests.web.portal_support import (
    CCAS_CHANTILLY,
    LIBRARY,
    MAIRIE_COYE,
    Portal,
    entry_url,
    feedback_url,
    give,
    page,
    portal_platform,
    text_of,
)


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    with portal_platform(tmp_path_factory.mktemp("account")) as p:
        p.seed(epci_rules={"public_averages": True, "min_answers": 1})
        yield p


@pytest.fixture(autouse=True)
def fresh_browser(portal: Portal) -> None:
    portal.client.cookies.clear()


def my_account(portal: Portal) -> str:
    return page(portal, "/compte/")


def test_register_confirm_sign_in_give_change_and_retract_feedback(portal: Portal) -> None:
    c = portal.client
    form = page(portal, "/compte/inscription")
    for name in ("email", "password", "display_name"):
        assert re.search(rf'<label for="{name}">', form)
    address = portal.register("Camille")
    mail = portal.inbox.wait_for(address)
    assert "Bonjour Camille," in mail.get_body().get_content()  # type: ignore[union-attr]

    # Signed in before confirming: the account page says to confirm, feedback is refused.
    portal.sign_in(address)
    assert "Votre adresse n'est pas encore confirmée" in text_of(my_account(portal))
    early = give(portal, MAIRIE_COYE, satisfaction="3", importance="4")
    assert early.status_code == 403
    assert "Confirmez d'abord votre adresse électronique" in text_of(early.text)

    confirmed = c.get(portal.confirmation_path(address))
    assert confirmed.status_code == 200
    assert f"l'adresse {address} est confirmée" in text_of(confirmed.text)
    portal.sign_out()
    assert "Vous êtes déconnecté." in text_of(page(portal, "/"))
    portal.sign_in(address)

    r = give(
        portal,
        MAIRIE_COYE,
        satisfaction="2",
        importance="5",
        comment="Horaires trop courts le samedi.",
    )
    assert (r.status_code, r.headers["location"]) == (303, "/compte/")
    mine = my_account(portal)
    text = text_of(mine)
    assert "Merci ! Votre avis sur « Mairie - Coye-la-Forêt » est enregistré." in text
    assert "Mairie - Coye-la-Forêt" in text
    assert "Communauté de communes de l'Aire Cantilienne" in text
    assert "Satisfaction 2 sur 5 — Insatisfait" in text
    assert "Importance 5 sur 5 — Très important" in text
    assert "Horaires trop courts le samedi." in text
    assert "Commentaire publié" in text
    assert feedback_url(portal, MAIRIE_COYE) in mine.replace("&amp;", "&")

    # Change: the form comes prefilled and says a new feedback replaces the current one.
    again = page(portal, feedback_url(portal, MAIRIE_COYE))
    assert "un nouvel envoi remplacera votre avis actuel" in text_of(again)
    assert 'id="satisfaction-2" name="satisfaction" value="2" checked' in again
    assert ">Horaires trop courts le samedi.</textarea>" in again
    changed = give(
        portal,
        MAIRIE_COYE,
        satisfaction="4",
        importance="5",
        comment="Nouveaux horaires le samedi matin : merci.",
    )
    assert changed.status_code == 303
    mine = my_account(portal)
    text = text_of(mine)
    assert mine.count('name="feedback_id"') == 1  # one current feedback per service
    assert "a remplacé le précédent" in text
    assert "Satisfaction 4 sur 5 — Satisfait" in text
    assert "Horaires trop courts" not in text

    # Retract (with the CSRF token of the page).
    feedback_id = re.search(r'name="feedback_id" value="([^"]+)"', my_account(portal))
    assert feedback_id is not None
    refused = portal.form(
        "/compte/retirer",
        {"tenant": portal.epci, "feedback_id": feedback_id.group(1)},
        csrf=False,
    )
    assert refused.status_code == 403
    done = portal.form(
        "/compte/retirer", {"tenant": portal.epci, "feedback_id": feedback_id.group(1)}
    )
    assert done.status_code == 303
    text = text_of(my_account(portal))
    assert "Votre avis a été retiré" in text
    assert "Vous n'avez pas encore donné d'avis." in text


def test_an_invalid_confirmation_link_says_so_and_offers_a_new_one(portal: Portal) -> None:
    address = portal.register("Zoé")
    first = portal.confirmation_path(address)
    me = portal.client.post(
        "/feedback/v1/auth/token", json={"email": address, "password": PASSWORD}
    ).json()
    account_id = TokenService(portal.settings).decode(me["access_token"], TokenType.ACCESS)["sub"]
    expired = (
        TokenService(portal.settings)
        .issue(account_id, TokenType.EMAIL_CONFIRMATION, timedelta(seconds=-60), email=address)
        .token
    )
    for token in ("pas.un.jeton", expired):
        refused = portal.client.get(f"/compte/confirmation?token={token}")
        assert refused.status_code == 400
        text = text_of(refused.text)
        assert "Lien de confirmation invalide ou expiré" in text
        assert "Ce lien de confirmation n'est pas valide ou a expiré" in text
        assert '<form method="post" action="/compte/confirmation"' in refused.text
    state = portal.client.get(
        "/feedback/v1/me", headers={"Authorization": f"Bearer {me['access_token']}"}
    ).json()
    assert state["email_confirmed"] is False
    r = portal.form("/compte/confirmation", {"email": address})
    assert (r.status_code, r.headers["location"]) == (303, "/compte/connexion")
    assert "un nouveau lien de confirmation vient de lui être envoyé" in text_of(
        page(portal, "/compte/connexion")
    )
    deadline = time.monotonic() + 10
    while portal.inbox.count(address) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert portal.inbox.count(address) == 2
    assert portal.client.get(first).status_code == 200  # the first link still works


def test_sign_in_explains_refusals_and_goes_back_only_to_local_pages(portal: Portal) -> None:
    address = portal.register("Paul")
    portal.client.get(portal.confirmation_path(address))
    wrong = portal.form("/compte/connexion", {"email": address, "password": "pas le bon"})
    assert wrong.status_code == 401
    assert "Adresse électronique ou mot de passe incorrect." in text_of(wrong.text)
    assert f'value="{address}"' in wrong.text  # the address typed is kept
    assert 'type="password" id="password" name="password" value=""' in wrong.text

    for target, expected in (
        ("https://exemple.org/piege", "/compte/"),
        ("//exemple.org/piege", "/compte/"),
        ("/\\exemple.org", "/compte/"),
        (f"/c/{portal.epci}/services?q=mairie", f"/c/{portal.epci}/services?q=mairie"),
    ):
        portal.client.cookies.clear()
        r = portal.sign_in(address, suivant=target)
        assert r.headers["location"] == expected, target

    signed_in = page(portal, "/")
    assert "Mon compte" in signed_in
    assert "Se déconnecter" in signed_in


def test_sign_out_revokes_the_refresh_token_and_clears_the_cookies(portal: Portal) -> None:
    portal.citizen("Rose")
    refresh = portal.client.cookies.get(REFRESH_COOKIE)
    assert refresh
    refused = portal.form("/compte/deconnexion", {}, csrf=False)
    assert refused.status_code == 403
    r = portal.form("/compte/deconnexion", {})
    assert (r.status_code, r.headers["location"]) == (303, "/")
    cleared = r.headers.get_list("set-cookie")
    assert any(h.startswith(f"{ACCESS_COOKIE}=;") and "Max-Age=0" in h for h in cleared)
    assert any(h.startswith(f"{REFRESH_COOKIE}=;") and "Max-Age=0" in h for h in cleared)
    again = portal.client.post("/feedback/v1/auth/refresh", json={"refresh_token": refresh})
    assert again.status_code == 401
    assert portal.client.get("/compte/", follow_redirects=False).status_code == 303


def test_export_downloads_the_persons_data_as_json(portal: Portal) -> None:
    address = portal.citizen("Sami")
    assert (
        give(
            portal, LIBRARY, satisfaction="5", importance="3", comment="Super accueil."
        ).status_code
        == 303
    )
    r = portal.client.get("/compte/export")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["content-disposition"] == 'attachment; filename="citela-mes-donnees.json"'
    data: dict[str, Any] = json.loads(r.content)
    assert data["account"]["email"] == address
    assert [(f["tenant"], f["entry_id"], f["comment"]) for f in data["feedback"]] == [
        (portal.epci, LIBRARY, "Super accueil.")
    ]
    portal.client.cookies.clear()
    anonymous = portal.client.get("/compte/export", follow_redirects=False)
    assert anonymous.headers["location"] == "/compte/connexion?suivant=%2Fcompte%2Fexport"


def test_deleting_the_account_signs_out_and_keeps_only_anonymous_scores(portal: Portal) -> None:
    address = portal.citizen("Victor")
    assert (
        give(
            portal, CCAS_CHANTILLY, satisfaction="1", importance="5", comment="Jamais joignable."
        ).status_code
        == 303
    )
    before = text_of(page(portal, entry_url(portal, CCAS_CHANTILLY)))
    answers = re.search(r"Nombre de réponses (\d+)", before)
    assert answers is not None

    confirm = text_of(page(portal, "/compte/supprimer"))
    assert address in confirm
    assert (
        "vos notes de satisfaction et d'importance, sans commentaire ni lien avec vous" in confirm
    )
    assert portal.form("/compte/supprimer", {}, csrf=False).status_code == 403
    r = portal.form("/compte/supprimer", {})
    assert (r.status_code, r.headers["location"]) == (303, "/")
    home = text_of(page(portal, "/"))
    assert "Votre compte est supprimé" in home
    assert "Seules vos notes restent comptées" in home
    assert portal.client.get("/compte/", follow_redirects=False).status_code == 303
    gone = portal.form("/compte/connexion", {"email": address, "password": PASSWORD})
    assert gone.status_code == 401
    after = text_of(page(portal, entry_url(portal, CCAS_CHANTILLY)))
    assert f"Nombre de réponses {answers.group(1)}" in after  # the scores still count


def test_another_citizen_never_sees_someone_elses_comment(portal: Portal) -> None:
    portal.citizen("Alice")
    secret = "Le guichet m'a mal renseignée sur mon dossier."
    assert (
        give(portal, MAIRIE_COYE, satisfaction="1", importance="4", comment=secret).status_code
        == 303
    )
    assert secret in text_of(my_account(portal))

    portal.client.cookies.clear()
    portal.citizen("Bruno")
    assert secret not in unescape(my_account(portal))
    form = unescape(page(portal, feedback_url(portal, MAIRIE_COYE)))
    assert secret not in form
    assert "un nouvel envoi remplacera" not in form  # Alice's feedback is not Bruno's
    assert secret not in unescape(page(portal, entry_url(portal, MAIRIE_COYE)))
    exported = portal.client.get("/compte/export").json()
    assert secret not in json.dumps(exported, ensure_ascii=False)


def test_too_many_sign_in_attempts_are_refused_in_french(portal: Portal) -> None:
    address = "dominique.martin@exemple.fr"
    statuses = [
        portal.form("/compte/connexion", {"email": address, "password": "essai"}).status_code
        for _ in range(portal.settings.login_rate_limit_per_minute)
    ]
    assert set(statuses) == {401}
    limited = portal.form("/compte/connexion", {"email": address, "password": "essai"})
    assert limited.status_code == 429
    assert "Trop de tentatives en peu de temps." in text_of(limited.text)
    assert f'value="{address}"' in limited.text
