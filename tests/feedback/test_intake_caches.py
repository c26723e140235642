"""The intake caches keys, tenants and entry verdicts per worker process: another worker's
changes (a key revoked, the rules changed, an entry removed) still apply at once. Both modes;
the second worker is the feedback service's own app on the same database, as another
process of ``citela serve feedback --workers 2`` is."""

from __future__ import annotations

from fastapi.testclient import TestClient

from citela_common.bus.memory import InProcessBus
from citela_feedback.service import build_runtime
from tests.catalogue import factories as cf
from tests.feedback.support import FeedbackPlatform, Response, fields, problem


def test_a_second_worker_sees_every_change_another_one_commits(
    platform: FeedbackPlatform,
) -> None:
    other = build_runtime(platform.settings, InProcessBus())
    second = TestClient(other.create_app())  # no lifespan: nor relay nor consumers, the API
    admin = platform.staff("admin")
    base = platform.url("/partner-apps")
    app_id = platform.client.post(base, json={"name": "Appli Pau"}, headers=admin).json()["id"]
    created = platform.client.post(
        f"{base}/{app_id}/keys", json={"scopes": ["feedback:write"]}, headers=admin
    ).json()
    key = {"X-API-Key": created["key"]}
    url = f"/v1/tenants/{platform.tenant}/feedback"

    def post(user: str, **body: object) -> Response:
        payload = {
            "entry_id": "service-public:mairie-pau",
            "satisfaction": 4,
            "importance": 5,
            "user_ref": user,
            **body,
        }
        response: Response = second.post(url, json=payload, headers=key)
        return response

    try:
        # Cached by the second worker: the key, the tenant's rules, the verdict on the entry.
        first = post("usager-1", comment="Accueil chaleureux à la mairie de Pau.")
        assert first.status_code == 201, first.text

        # The first worker makes comments required: the second refuses one without.
        patched = platform.client.patch(
            platform.url("/settings"), json={"rules": {"comment_required": True}}, headers=admin
        )
        assert patched.status_code == 200, patched.text
        assert fields(problem(post("usager-2"), 422)) == {"body.comment": "required"}

        # The catalogue removes the entry: the verdict the second worker cached is stale.
        platform.publish(cf.removed("mairie-pau", version=2))
        refused = problem(post("usager-3", comment="Plus de guichet ?"), 422)
        assert fields(refused) == {"body.entry_id": "entry_removed"}

        # The key is revoked through the first worker: the second refuses it at once.
        revoked = platform.client.delete(f"{base}/{app_id}/keys/{created['id']}", headers=admin)
        assert revoked.status_code == 204
        gone = problem(
            post("usager-4", entry_id="service-public:ccas-pau", comment="Bon accueil."),
            401,
        )
        assert gone["detail"] == "The API key is unknown or revoked."
    finally:
        second.close()
        other.db.dispose()
