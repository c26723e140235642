"""Feedback intake at the HTTP boundary, in both modes (embedded: SQLite + in-process bus;
distributed: PostgreSQL + Kafka + Redis): rules, history, idempotency, partners, batches,
rate limits, redaction, moderation, staff lists, retraction, events, metrics."""

from __future__ import annotations

import re
import uuid
from typing import Any

from citela_feedback.models import ApiKey
from tests.catalogue import factories as cf
from tests.feedback.support import FeedbackPlatform, fields, problem

SUBMITTED = "fr.citela.feedback.submitted.v1"
REVISED = "fr.citela.feedback.revised.v1"
RETRACTED = "fr.citela.feedback.retracted.v1"


def test_a_citizen_gives_feedback_on_a_service_of_the_territory(platform: FeedbackPlatform) -> None:
    _, me = platform.citizen()
    r = platform.post(me, satisfaction=2, importance=5, comment="  Trop d'attente au guichet.  ")
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == platform.url(f"/feedback/{body['id']}").removeprefix(
        "/feedback"
    )
    assert body["outcome"] == "submitted"
    assert (body["satisfaction_label"], body["importance_label"]) == (
        "Insatisfait",
        "Très important",
    )
    assert body["comment"] == "Trop d'attente au guichet."
    assert body["comment_status"] == "visible"
    assert body["channel"] == "portal"
    assert body["revision"] == 1

    [event] = platform.published.wait(1)
    assert event.type == SUBMITTED
    assert event.tenant == platform.tenant
    assert event.data["feedback_id"] == body["id"]
    assert event.data["entry_id"] == "service-public:mairie-pau"
    assert (event.data["satisfaction"], event.data["importance"]) == (2, 5)
    assert event.data["comment"] == "Trop d'attente au guichet."
    assert re.fullmatch(r"[0-9a-f]{32}", event.data["author_ref"])
    me_id = platform.client.get("/feedback/v1/me", headers=me).json()["id"]
    assert me_id not in event.data["author_ref"]

    scales = platform.client.get("/feedback/v1/scales").json()
    assert scales["satisfaction"]["3"] == "Ni satisfait ni insatisfait"
    assert scales["importance"]["1"] == "Pas du tout important"
    doc = platform.client.get("/feedback/openapi.json").json()
    described = doc["components"]["schemas"]["FeedbackIn"]["properties"]["satisfaction"]
    assert "5 = Très satisfait" in described["description"]


def test_unknown_or_foreign_entries_and_bad_fields_are_refused_field_by_field(
    platform: FeedbackPlatform,
) -> None:
    _, me = platform.citizen()
    unknown = problem(platform.post(me, entry_id="service-public:nulle-part"), 422)
    assert unknown["title"] == "Avis refusé"
    assert fields(unknown) == {"body.entry_id": "unknown_entry"}
    assert "no such entry" in unknown["errors"][0]["reason"]
    # Arudy is in the catalogue of the tenant but outside the agglomeration's territory.
    outside = problem(platform.post(me, entry_id="service-public:mairie-arudy"), 422)
    assert fields(outside) == {"body.entry_id": "outside_territory"}
    platform.publish(cf.removed("ccas-pau", version=2))
    removed = problem(platform.post(me, entry_id="service-public:ccas-pau"), 422)
    assert fields(removed) == {"body.entry_id": "entry_removed"}
    bad = problem(platform.post(me, satisfaction=0, importance=6), 422)
    assert bad["title"] == "Données invalides"
    assert set(fields(bad)) == {"body.satisfaction", "body.importance"}
    missing = problem(platform.post(me, satisfaction=...), 422)
    assert fields(missing) == {"body.satisfaction": "missing"}
    assert platform.feedback_rows() == []

    # The tenant's own rules: a comment required, at most 40 characters.
    admin = platform.staff("admin")
    patched = platform.client.patch(
        platform.url("/settings"),
        json={"rules": {"comment_required": True, "comment_max_length": 40}},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    no_comment = problem(platform.post(me, comment="   "), 422)
    assert fields(no_comment) == {"body.comment": "required"}
    too_long = problem(platform.post(me, comment="x" * 41), 422)
    assert fields(too_long) == {"body.comment": "too_long"}
    both = problem(platform.post(me, entry_id="service-public:nulle-part", comment=None), 422)
    assert fields(both) == {"body.entry_id": "unknown_entry", "body.comment": "required"}
    assert platform.post(me, comment="Très bon accueil.").status_code == 201


def test_a_new_feedback_replaces_the_current_one_and_the_history_is_kept(
    platform: FeedbackPlatform,
) -> None:
    _, me = platform.citizen()
    first = platform.post(me, satisfaction=2, comment="Long délai.")
    second = platform.post(me, satisfaction=4, comment="Mieux depuis la réforme.")
    assert second.status_code == 200
    assert second.json()["outcome"] == "revised"
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["revision"] == 2
    same = platform.post(me, satisfaction=4, comment="Mieux depuis la réforme.")
    assert same.status_code == 200
    assert same.json()["outcome"] == "unchanged"
    assert same.json()["revision"] == 2

    history = platform.client.get(
        platform.url(f"/feedback/{first.json()['id']}/history"), headers=me
    )
    assert [(h["revision"], h["satisfaction"], h["comment"]) for h in history.json()] == [
        (1, 2, "Long délai."),
        (2, 4, "Mieux depuis la réforme."),
    ]
    assert history.json()[0]["replaced_at"] is not None
    assert history.json()[1]["replaced_at"] is None
    assert len(platform.feedback_rows()) == 1
    events = platform.published.wait(2)
    assert [(e.type, e.data["revision"], e.data["satisfaction"]) for e in events] == [
        (SUBMITTED, 1, 2),
        (REVISED, 2, 4),
    ]


def test_an_idempotency_key_replays_the_first_result_and_never_makes_a_second_feedback(
    platform: FeedbackPlatform,
) -> None:
    _, me = platform.citizen()
    key = {"Idempotency-Key": f"avis-{uuid.uuid4()}", **me}
    first = platform.post(key, comment="Guichet fermé le samedi.")
    retry = platform.post(key, comment="Guichet fermé le samedi.")
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    other = problem(platform.post(key, comment="Autre chose."), 422)
    assert other["type"].endswith("/idempotency-key-reused")
    assert fields(other) == {"header.Idempotency-Key": "reused"}
    assert len(platform.feedback_rows()) == 1
    assert len(platform.published.wait(1)) == 1
    metrics = platform.client.get("/feedback/metrics").text
    assert 'citela_feedback_idempotent_replays_total{channel="portal"}' in metrics
    # A failed request stores nothing: the same key works once the request is right.
    k2 = {"Idempotency-Key": f"avis-{uuid.uuid4()}", **me}
    assert platform.post(k2, entry_id="service-public:nulle-part").status_code == 422
    assert platform.post(k2, entry_id="service-public:mediatheque-lons").status_code == 201


def test_partner_apps_post_for_their_users_and_in_batches_with_per_item_results(
    platform: FeedbackPlatform,
) -> None:
    partner = platform.partner("feedback:write", "feedback:read")
    one = platform.post(partner, user_ref="usager-42", comment="Appli pratique.")
    assert one.status_code == 201
    assert one.json()["channel"] == "partner"
    assert one.json()["user_ref"] == "usager-42"
    no_ref = problem(platform.post(partner), 422)
    assert fields(no_ref) == {"body.user_ref": "missing"}
    _, citizen = platform.citizen()
    assert fields(problem(platform.post(citizen, user_ref="x"), 422)) == {
        "body.user_ref": "forbidden"
    }

    items = [
        {
            "entry_id": "service-public:mairie-pau",
            "satisfaction": 5,
            "importance": 4,
            "user_ref": "u1",
        },
        {
            "entry_id": "service-public:nulle-part",
            "satisfaction": 3,
            "importance": 3,
            "user_ref": "u2",
        },
        {
            "entry_id": "service-public:mediatheque-lons",
            "satisfaction": 4,
            "importance": 2,
            "user_ref": "u3",
        },
        {"entry_id": "service-public:mairie-pau", "satisfaction": 1, "importance": 5},
        {
            "entry_id": "service-public:mairie-arudy",
            "satisfaction": 2,
            "importance": 2,
            "user_ref": "u4",
        },
        {
            "entry_id": "service-public:mairie-pau",
            "satisfaction": 3,
            "importance": 4,
            "user_ref": "u1",
        },
        {
            "entry_id": "service-public:mairie-pau",
            "satisfaction": 2,
            "importance": 4,
            "user_ref": "usager-42",
            "comment": "Appli pratique.",
        },
    ]
    r = platform.client.post(
        platform.url("/feedback/batch"), json={"items": items}, headers=partner
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["accepted"], out["rejected"]) == (4, 3)
    by_index = {x["index"]: x for x in out["results"]}
    assert [by_index[i]["status"] for i in range(7)] == [
        "accepted",
        "rejected",
        "accepted",
        "rejected",
        "rejected",
        "accepted",
        "accepted",
    ]
    assert by_index[1]["errors"] == [
        {
            "field": "body.items.1.entry_id",
            "reason": "no such entry in this authority's catalogue",
            "code": "unknown_entry",
        }
    ]
    assert by_index[3]["errors"][0]["field"] == "body.items.3.user_ref"
    assert by_index[4]["errors"][0]["code"] == "outside_territory"
    assert by_index[5]["outcome"] == "revised"
    assert by_index[5]["feedback_id"] == by_index[0]["feedback_id"]
    assert by_index[6]["outcome"] == "revised"
    assert by_index[6]["feedback_id"] == one.json()["id"]

    too_many = platform.client.post(
        platform.url("/feedback/batch"), json={"items": [items[0]] * 1001}, headers=partner
    )
    assert fields(problem(too_many, 422)) == {"body.items": "too_long"}
    citizens_cannot = platform.client.post(
        platform.url("/feedback/batch"), json={"items": items[:1]}, headers=citizen
    )
    problem(citizens_cannot, 403)
    events = platform.published.wait(1 + 4)
    assert [e.type for e in events] == [SUBMITTED, SUBMITTED, SUBMITTED, REVISED, REVISED]
    assert {e.data["channel"] for e in events} == {"partner"}
    metrics = platform.client.get("/feedback/metrics").text
    assert 'citela_feedback_rejected_total{channel="partner",reason="unknown_entry"}' in metrics
    assert 'citela_feedback_accepted_total{channel="partner",outcome="revised"}' in metrics


def test_api_keys_are_shown_once_stored_hashed_scoped_and_revocable(
    platform: FeedbackPlatform,
) -> None:
    admin = platform.staff("admin")
    base = platform.url("/partner-apps")
    app = platform.client.post(base, json={"name": "Borne de la mairie"}, headers=admin).json()
    created = platform.client.post(
        f"{base}/{app['id']}/keys",
        json={"scopes": ["feedback:read"], "label": "borne"},
        headers=admin,
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith(f"ctl_{created.json()['prefix']}_")
    listed = platform.client.get(f"{base}/{app['id']}/keys", headers=admin).json()
    assert "key" not in listed[0]
    assert listed[0]["prefix"] == created.json()["prefix"]
    with platform.runtime.db.transaction() as s:
        row = s.get(ApiKey, created.json()["id"])
        assert row is not None
        assert key not in (row.key_hash, row.prefix)
        assert len(row.key_hash) == 64
    reader = {"X-API-Key": key}
    assert platform.client.get(platform.url("/feedback"), headers=reader).status_code == 200
    problem(platform.post(reader, user_ref="u1"), 403)  # read-only key
    # An admin cannot give a key access to a tenant they do not administer.
    foreign = platform.client.post(
        f"{base}/{app['id']}/keys",
        json={"scopes": ["feedback:write"], "tenants": ["ville-ailleurs"]},
        headers=admin,
    )
    problem(foreign, 403)
    revoked = platform.client.delete(
        f"{base}/{app['id']}/keys/{created.json()['id']}", headers=admin
    )
    assert revoked.status_code == 204
    assert problem(platform.client.get(platform.url("/feedback"), headers=reader), 401)[
        "detail"
    ] == ("The API key is unknown or revoked.")
    problem(platform.client.get(platform.url("/feedback"), headers={"X-API-Key": "ctl_x_y"}), 401)


def test_a_partner_key_is_rate_limited_with_retry_after(platform: FeedbackPlatform) -> None:
    partner = platform.partner("feedback:read", rate_limit=3)
    codes = [platform.client.get(platform.url("/feedback"), headers=partner) for _ in range(4)]
    assert [r.status_code for r in codes[:3]] == [200, 200, 200]
    limited = problem(codes[3], 429)
    assert limited["title"] == "Trop de requêtes"
    assert 1 <= int(codes[3].headers["retry-after"]) <= 120
    assert codes[3].headers["ratelimit-limit"] == "3"
    other = platform.partner("feedback:read", rate_limit=3)  # limits are per key
    assert platform.client.get(platform.url("/feedback"), headers=other).status_code == 200
    metrics = platform.client.get("/feedback/metrics").text
    assert 'citela_feedback_rate_limited_requests_total{scope="api_key"}' in metrics


def test_personal_data_is_masked_in_what_leaves_and_only_the_author_reads_the_original(
    platform: FeedbackPlatform,
) -> None:
    _, me = platform.citizen()
    comment = (
        "Dossier perdu deux fois. Rappelez-moi au 06 12 34 56 78 ou jean.dupont@gmail.com ; "
        "j'habite 12 bis rue des Cordeliers, 64000 Pau. IBAN FR76 3000 6000 0112 3456 7890 189."
    )
    masked = (
        "Dossier perdu deux fois. Rappelez-moi au [téléphone masqué] ou [courriel masqué] ; "
        "j'habite [adresse masquée]. IBAN [IBAN masqué]."
    )
    fid = platform.post(me, comment=comment, satisfaction=1).json()["id"]
    assert (
        platform.client.get(platform.url(f"/feedback/{fid}"), headers=me).json()["comment"]
        == comment
    )
    analyst = platform.staff("analyst")
    seen = platform.client.get(platform.url(f"/feedback/{fid}"), headers=analyst).json()
    assert seen["comment"] == masked
    listed = platform.client.get(platform.url("/feedback"), headers=analyst).json()["items"]
    assert [i["comment"] for i in listed] == [masked]
    history = platform.client.get(platform.url(f"/feedback/{fid}/history"), headers=analyst).json()
    assert history[0]["comment"] == masked
    [event] = platform.published.wait(1)
    assert event.data["comment"] == masked
    _, stranger = platform.citizen()
    problem(platform.client.get(platform.url(f"/feedback/{fid}"), headers=stranger), 404)


def test_prescreening_holds_abuse_and_moderators_decide_in_bulk(platform: FeedbackPlatform) -> None:
    _, alice = platform.citizen()
    _, bob = platform.citizen()
    _, chloe = platform.citizen()
    rude = platform.post(alice, comment="Bande de connards au guichet !", satisfaction=1).json()
    spam = platform.post(bob, comment="Gagnez un bonus au casino sur www.gain-facile.ru").json()
    fine = platform.post(chloe, comment="Personnel aimable et efficace.").json()
    assert (rude["comment_status"], spam["comment_status"], fine["comment_status"]) == (
        "pending",
        "pending",
        "visible",
    )
    assert rude["comment"] == "Bande de connards au guichet !"  # its author still reads it
    events = platform.published.wait(3)
    assert [e.data["comment"] for e in events] == [None, None, "Personnel aimable et efficace."]
    assert [e.data["satisfaction"] for e in events] == [1, 4, 4]  # scores count regardless

    moderator = platform.staff("moderator")
    analyst = platform.staff("analyst")
    problem(platform.client.get(platform.url("/moderation/queue"), headers=analyst), 403)
    queue = platform.client.get(platform.url("/moderation/queue"), headers=moderator).json()[
        "items"
    ]
    assert [q["id"] for q in queue] == [rude["id"], spam["id"]]
    assert queue[0]["moderation_flags"] == [{"reason": "insult", "detail": "conards"}]
    assert queue[1]["moderation_flags"][0]["reason"] == "spam"
    assert (
        platform.client.get(platform.url(f"/feedback/{rude['id']}"), headers=analyst).json()[
            "comment"
        ]
        is None
    )

    decided = platform.client.post(
        platform.url("/moderation/decisions"),
        json={
            "action": "hide",
            "feedback_ids": [rude["id"], fine["id"], "inconnu"],
            "note": "injure",
        },
        headers=moderator,
    )
    assert decided.status_code == 200, decided.text
    assert [(x["result"], x["comment_status"]) for x in decided.json()["results"]] == [
        ("done", "hidden"),
        ("done", "hidden"),
        ("not_found", None),
    ]
    approve = platform.client.post(
        platform.url("/moderation/decisions"),
        json={"action": "approve", "feedback_ids": [fine["id"]]},
        headers=moderator,
    )
    assert approve.json()["results"][0]["result"] == "done"
    retract = platform.client.post(
        platform.url("/moderation/decisions"),
        json={"action": "retract", "feedback_ids": [spam["id"]]},
        headers=moderator,
    )
    assert retract.json()["results"][0]["result"] == "done"
    later = platform.published.wait(6)[3:]
    # Hiding a comment nobody saw changes nothing downstream; hiding a shared one revises it
    # without its text; approving it shares it again; retracting publishes the retraction.
    assert [(e.type, e.data.get("comment")) for e in later] == [
        (REVISED, None),
        (REVISED, "Personnel aimable et efficace."),
        (RETRACTED, None),
    ]
    assert later[2].data["reason"] == "moderation"
    hidden = platform.client.get(
        platform.url("/moderation/queue"), params={"status": "hidden"}, headers=moderator
    ).json()["items"]
    assert [h["id"] for h in hidden] == [rude["id"]]

    # Pre-moderation: every comment waits for a moderator.
    admin = platform.staff("admin")
    platform.client.patch(
        platform.url("/settings"), json={"rules": {"moderation_mode": "pre"}}, headers=admin
    )
    _, dan = platform.citizen()
    held = platform.post(dan, comment="Très bien.").json()
    assert held["comment_status"] == "pending"


def test_staff_lists_feedback_with_filters_and_a_cursor(platform: FeedbackPlatform) -> None:
    partner = platform.partner("feedback:write", "feedback:read")
    for n in range(7):
        r = platform.post(
            partner,
            user_ref=f"u{n}",
            satisfaction=1 + n % 5,
            entry_id="service-public:mairie-pau" if n % 2 else "service-public:mediatheque-lons",
        )
        assert r.status_code == 201
    _, me = platform.citizen()
    platform.post(me, entry_id="service-public:ccas-pau", satisfaction=5)
    analyst = platform.staff("analyst")
    url = platform.url("/feedback")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = platform.client.get(url, params=params, headers=analyst).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8

    def ids(**params: Any) -> int:
        r = platform.client.get(url, params=params, headers=analyst)
        assert r.status_code == 200, r.text
        return len(r.json()["items"])

    assert ids(channel="portal") == 1
    assert ids(entry_id="service-public:mairie-pau") == 3
    assert ids(satisfaction_min=4) == 3
    assert ids(satisfaction_max=2, entry_id="service-public:mediatheque-lons") == 2
    assert ids(submitted_from="2000-01-01T00:00:00+00:00", submitted_to="2000-01-02T00:00:00Z") == 0
    problem(
        platform.client.get(url, params={"submitted_from": "2026-01-01T00:00:00"}, headers=analyst),
        422,
    )
    problem(platform.client.get(url, params={"cursor": "n'importe quoi"}, headers=analyst), 400)
    problem(platform.client.get(url, params={"satisfaction_min": 9}, headers=analyst), 422)
    # A partner app lists only what it posted itself, with its users' own text.
    assert len(platform.client.get(url, headers=partner).json()["items"]) == 7
    # Citizens do not list the tenant's feedback.
    problem(platform.client.get(url, headers=me), 403)


def test_an_author_retracts_and_can_give_a_new_feedback_later(platform: FeedbackPlatform) -> None:
    _, me = platform.citizen()
    fid = platform.post(me, comment="Je retire cet avis.").json()["id"]
    analyst = platform.staff("analyst")
    problem(platform.client.delete(platform.url(f"/feedback/{fid}"), headers=analyst), 403)
    assert platform.client.delete(platform.url(f"/feedback/{fid}"), headers=me).status_code == 204
    assert platform.client.delete(platform.url(f"/feedback/{fid}"), headers=me).status_code == 204
    mine = platform.client.get(platform.url(f"/feedback/{fid}"), headers=me).json()
    assert mine["retracted_at"] is not None
    assert platform.client.get(platform.url("/feedback"), headers=analyst).json()["items"] == []
    with_retracted = platform.client.get(
        platform.url("/feedback"), params={"include_retracted": True}, headers=analyst
    ).json()["items"]
    assert [i["id"] for i in with_retracted] == [fid]
    again = platform.post(me, comment="Nouvel avis.")
    assert again.status_code == 201
    assert again.json()["id"] != fid
    events = platform.published.wait(3)
    assert [e.type for e in events] == [SUBMITTED, RETRACTED, SUBMITTED]
    assert events[1].data == {
        "feedback_id": fid,
        "entry_id": "service-public:mairie-pau",
        "retracted_at": events[1].data["retracted_at"],
        "reason": "author",
    }


def test_tenant_settings_belong_to_its_admins_and_averages_can_be_public(
    platform: FeedbackPlatform,
) -> None:
    public = platform.client.get(platform.url()).json()
    assert public["code"] == platform.tenant
    assert public["comment_required"] is False
    problem(
        platform.client.get(
            platform.url("/scores"), params={"entry_id": "service-public:mairie-pau"}
        ),
        404,
    )
    analyst = platform.staff("analyst")
    problem(
        platform.client.patch(platform.url("/settings"), json={"name": "Autre"}, headers=analyst),
        403,
    )
    admin = platform.staff("admin")
    r = platform.client.patch(
        platform.url("/settings"),
        json={"rules": {"public_averages": True, "min_answers": 2, "matrix_cut": "midpoint"}},
        headers=admin,
    )
    assert r.status_code == 200
    assert r.json()["rules"]["matrix_cut"] == "midpoint"
    assert r.json()["rules"]["min_answers"] == 2
    bad = platform.client.patch(
        platform.url("/settings"), json={"rules": {"min_answers": 0}}, headers=admin
    )
    assert "body.rules.min_answers" in fields(problem(bad, 422))
    partner = platform.partner("feedback:write")
    platform.post(partner, user_ref="a", satisfaction=2, importance=4)
    scores = platform.client.get(
        platform.url("/scores"), params={"entry_id": "service-public:mairie-pau"}
    ).json()
    assert scores == {
        "entry_id": "service-public:mairie-pau",
        "answers": 1,
        "enough_answers": False,
        "satisfaction_mean": None,
        "importance_mean": None,
    }
    platform.post(partner, user_ref="b", satisfaction=5, importance=5)
    scores = platform.client.get(
        platform.url("/scores"), params={"entry_id": "service-public:mairie-pau"}
    ).json()
    assert (scores["answers"], scores["satisfaction_mean"], scores["importance_mean"]) == (
        2,
        3.5,
        4.5,
    )
    staff = platform.client.get(platform.url("/staff"), headers=admin).json()
    assert sorted(r for s in staff for r in s["roles"]) == ["admin", "analyst"]


def test_the_catalogue_read_model_is_versioned_and_idempotent(platform: FeedbackPlatform) -> None:
    _, me = platform.citizen()
    platform.publish(cf.entry("piscine", "Piscine Péguilhan", "64445", version=3))
    platform.publish(cf.removed("piscine", version=2))  # late and older: ignored
    platform.publish(cf.entry("piscine", "Piscine Péguilhan", "64445", version=3))  # duplicate
    assert platform.post(me, entry_id="service-public:piscine").status_code == 201
    platform.publish(cf.removed("piscine", version=4))
    assert fields(problem(platform.post(me, entry_id="service-public:piscine"), 422)) == {
        "body.entry_id": "entry_removed"
    }
    # Another tenant's catalogue is not this tenant's.
    other = f"o-{uuid.uuid4().hex[:8]}"
    platform.publish(*cf.GEOGRAPHY, cf.entry("secret", "Service d'ailleurs", "64445"), tenant=other)
    assert fields(problem(platform.post(me, entry_id="service-public:secret"), 422)) == {
        "body.entry_id": "unknown_entry"
    }


def test_the_public_directory_lists_every_tenant_with_what_the_public_may_know(
    platform: FeedbackPlatform,
) -> None:
    other = platform.create_tenant(f"o-{platform.tenant}", territory=["64348"])
    r = platform.client.get("/feedback/v1/tenants/public")  # no credentials needed
    assert r.status_code == 200, r.text
    listed = {t["code"]: t for t in r.json()}
    assert listed[platform.tenant] == platform.client.get(platform.url()).json()
    assert listed[other]["territory_codes"] == ["64348"]
    assert set(listed[other]) == {
        "code",
        "name",
        "territory_codes",
        "comment_required",
        "comment_max_length",
        "public_averages",
    }  # not the admins' settings (moderation mode, matrix cut, minimum answers)
    reserved = platform.client.post(
        "/feedback/v1/tenants",
        json={"code": "public", "name": "Ville", "siren": "200067254", "territory_codes": ["64"]},
        headers=platform.operator,
    )
    assert fields(problem(reserved, 422)) == {"body.code": "reserved"}
