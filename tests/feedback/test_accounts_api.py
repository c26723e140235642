"""Accounts at the HTTP boundary, in both modes: registration with a confirmation mail read
from a real SMTP server, sign-in, token rotation, personal data export and erasure."""

from __future__ import annotations

from tests.feedback.support import PASSWORD, FeedbackPlatform, body_of, fields, problem


def test_a_citizen_registers_confirms_by_mail_and_signs_in(platform: FeedbackPlatform) -> None:
    c = platform.client
    address = platform.register("camille")
    again = c.post("/feedback/v1/accounts", json={"email": address.upper(), "password": PASSWORD})
    assert fields(problem(again, 409)) == {"body.email": "taken"}
    weak = c.post("/feedback/v1/accounts", json={"email": "x@exemple.fr", "password": "court"})
    assert "body.password" in fields(problem(weak, 422))
    not_an_email = c.post(
        "/feedback/v1/accounts", json={"email": "pas-un-mail", "password": PASSWORD}
    )
    assert "body.email" in fields(problem(not_an_email, 422))

    # Signed in but unconfirmed: no feedback yet.
    headers = platform.login(address)
    refused = platform.post(headers)
    body = problem(refused, 403)
    assert body["title"] == "Adresse électronique non confirmée"
    assert body["type"].endswith("/email-not-confirmed")

    mail = platform.inbox.wait_for(address)
    assert mail["Subject"] == "Confirmez votre adresse électronique — Citéla"
    assert "Bonjour Camille," in body_of(mail)
    # The mail links to the portal's page (settings.portal_public_url), not to the API.
    assert f"{platform.settings.portal_public_url}/compte/confirmation?token=" in body_of(mail)
    assert "/v1/auth/confirm" not in body_of(mail)
    platform.confirm(address)
    me = c.get("/feedback/v1/me", headers=headers).json()
    assert me["email"] == address
    assert me["email_confirmed"] is True
    assert me["roles"] == {}
    assert platform.post(headers).status_code == 201

    forged = c.get("/feedback/v1/auth/confirm", params={"token": "pas.un.jeton"})
    assert problem(forged, 400)["title"] == "Lien de confirmation invalide ou expiré"


def test_sign_in_is_refused_alike_for_a_wrong_password_and_an_unknown_address(
    platform: FeedbackPlatform,
) -> None:
    address, _ = platform.citizen()
    c = platform.client
    wrong = c.post("/feedback/v1/auth/token", json={"email": address, "password": "mauvais mdp"})
    unknown = c.post(
        "/feedback/v1/auth/token", json={"email": "inconnu@exemple.fr", "password": PASSWORD}
    )
    for r in (wrong, unknown):
        body = problem(r, 401)
        assert body["title"] == "Identifiants incorrects"
        assert body["detail"] == "Unknown email address or wrong password."
    no_token = c.get("/feedback/v1/me")
    assert problem(no_token, 401)["title"] == "Authentification requise"
    bad_token = c.get("/feedback/v1/me", headers={"Authorization": "Bearer abc.def.ghi"})
    problem(bad_token, 401)


def test_refresh_tokens_rotate_and_are_used_once(platform: FeedbackPlatform) -> None:
    address, _ = platform.citizen()
    c = platform.client
    first = c.post("/feedback/v1/auth/token", json={"email": address, "password": PASSWORD}).json()
    assert first["token_type"] == "bearer"
    assert first["expires_in"] == 900
    second = c.post("/feedback/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    pair = second.json()
    assert (
        c.get(
            "/feedback/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
        ).status_code
        == 200
    )
    replayed = c.post("/feedback/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert problem(replayed, 401)["type"].endswith("/invalid-refresh-token")
    # A replayed refresh token ends every session of the account.
    revoked = c.post("/feedback/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    problem(revoked, 401)
    # An access token is not a refresh token.
    wrong_type = c.post("/feedback/v1/auth/refresh", json={"refresh_token": pair["access_token"]})
    problem(wrong_type, 401)
    fresh = c.post("/feedback/v1/auth/token", json={"email": address, "password": PASSWORD}).json()
    assert (
        c.post(
            "/feedback/v1/auth/logout", json={"refresh_token": fresh["refresh_token"]}
        ).status_code
        == 204
    )
    problem(
        c.post("/feedback/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]}), 401
    )


def test_too_many_sign_in_attempts_answer_429_with_retry_after(platform: FeedbackPlatform) -> None:
    address, _ = platform.citizen()
    statuses = [
        platform.client.post(
            "/feedback/v1/auth/token", json={"email": address, "password": "mauvais mdp"}
        )
        for _ in range(11)
    ]
    assert [r.status_code for r in statuses[:9]] == [401] * 9  # one attempt went to citizen()
    limited = statuses[-1]
    body = problem(limited, 429)
    assert body["title"] == "Trop de requêtes"
    assert int(limited.headers["Retry-After"]) >= 1


def test_a_citizen_downloads_their_data_and_deletes_their_account(
    platform: FeedbackPlatform,
) -> None:
    address, me = platform.citizen("dominique")
    c = platform.client
    comment = "Accueil aimable. Écrivez-moi : dominique@exemple.fr"
    first = platform.post(me, comment=comment, satisfaction=2)
    assert first.status_code == 201
    platform.post(me, comment=comment, satisfaction=3)  # a revision: history kept
    other = platform.post(me, entry_id="service-public:ccas-pau", comment=None)
    assert other.status_code == 201
    published = platform.published.wait(3)
    refs = {e.data["author_ref"] for e in published}
    assert len(refs) == 1

    export = c.get("/feedback/v1/me/export", headers=me)
    assert export.status_code == 200
    assert export.headers["content-disposition"].startswith("attachment;")
    data = export.json()
    assert data["account"]["email"] == address
    mine = {f["entry_id"]: f for f in data["feedback"]}
    assert mine["service-public:mairie-pau"]["comment"] == comment  # the original, unredacted
    assert [h["satisfaction"] for h in mine["service-public:mairie-pau"]["history"]] == [2, 3]

    assert c.delete("/feedback/v1/me", headers=me).status_code == 204
    problem(c.post("/feedback/v1/auth/token", json={"email": address, "password": PASSWORD}), 401)
    problem(c.get("/feedback/v1/me/export", headers=me), 401)  # the token outlives no account

    events = platform.published.wait(3 + 4)[3:]
    retracted = [e for e in events if e.type == "fr.citela.feedback.retracted.v1"]
    kept = [e for e in events if e.type == "fr.citela.feedback.submitted.v1"]
    assert {e.data["reason"] for e in retracted} == {"account_deleted"}
    assert {e.data["feedback_id"] for e in retracted} == {first.json()["id"], other.json()["id"]}
    assert sorted((e.data["entry_id"], e.data["satisfaction"]) for e in kept) == [
        ("service-public:ccas-pau", 4),
        ("service-public:mairie-pau", 3),
    ]
    for e in kept:  # anonymous scores: no comment, nothing that links them to the person
        assert e.data["comment"] is None
        assert e.data["author_ref"] not in refs
        assert e.data["feedback_id"] not in {first.json()["id"], other.json()["id"]}
    rows = platform.feedback_rows()
    assert {(r.author_kind, r.account_id, r.comment) for r in rows} == {("anonymous", None, None)}
    analyst = platform.staff("analyst")
    listed = c.get(platform.url("/feedback"), headers=analyst).json()["items"]
    assert sorted(i["satisfaction"] for i in listed) == [3, 4]
    assert all(i["comment"] is None for i in listed)
