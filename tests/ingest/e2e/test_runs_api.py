"""The ingest API's runs: newest first, paged by cursor, filtered by source, scoped to the
tenant, and a 404 problem for a run the tenant does not have."""

from __future__ import annotations

from tests.ingest.e2e.conftest import OISE, Platform


def test_runs_are_listed_newest_first_page_by_page(with_oise: Platform) -> None:
    p = with_oise
    again = p.harvest("territories", OISE, territory="60")
    assert again.counts["unchanged"] == 679

    first = p.ingest_api("/runs", limit=1)
    assert [r["id"] for r in first["items"]] == [again.run_id]
    assert first["items"][0]["counts"] == {"unchanged": 679}
    rest = p.ingest_api("/runs", limit=1, cursor=first["next_cursor"])
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    assert rest["items"][0]["counts"] == {"new": 679}
    assert p.ingest_api("/runs", source="datagouv")["items"] == []
    items = f"/runs/{rest['items'][0]['id']}/items"
    page = p.ingest_api(items, limit=500)
    assert len(page["items"]) == 500
    assert len(p.ingest_api(items, limit=500, cursor=page["next_cursor"])["items"]) == 179


def test_a_run_of_another_tenant_is_not_found(with_oise: Platform) -> None:
    p = with_oise
    (run,) = p.ingest_api("/runs")["items"]
    for path in (
        f"/ingest/v1/tenants/{p.tenant}/runs/no-such-run",
        f"/ingest/v1/tenants/{p.tenant}/runs/no-such-run/items",
        f"/ingest/v1/tenants/someone-else/runs/{run['id']}",
        f"/ingest/v1/tenants/someone-else/runs/{run['id']}/items",
    ):
        r = p.client.get(path)
        assert r.status_code == 404, path
        assert r.json()["type"].endswith("/unknown-run")
    assert p.client.get("/ingest/v1/tenants/Not_A_Tenant/runs").status_code == 422
