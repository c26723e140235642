"""The HTTP path of every API source, end to end, against a local server replaying recordings.

geo.api answers are the real recorded bodies and headers (ETag included); the Service-Public
and data.gouv.fr pages are built from the real-format records of the e2e fixtures. The server
paginates like the real APIs, answers empty lists, and fails before it recovers.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from citela_ingest.http import HttpFetcher
from citela_ingest.runs import Endpoints
from tests.ingest.e2e.conftest import E2E, FIXTURES, Platform
from tests.support.replay_server import RecordedRequest, ReplayServer, Reply

GEO = FIXTURES / "geo-api"
RECORDS_PATH = "/explore/v2.1/catalog/datasets/api-lannuaire-administration/records"


def oise_communes() -> list[dict[str, Any]]:
    return json.loads((GEO / "communes_codeDepartement_60.json").read_text())  # type: ignore[no-any-return]


def offices(count: int) -> list[dict[str, Any]]:
    """``count`` town halls of Oise, in the real export's format (arrays), one per commune."""
    template = json.loads((E2E / "service-public" / "export.json").read_text())["service"][0]
    out = []
    for commune in oise_communes()[:count]:
        record = copy.deepcopy(template)
        record["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mairie-{commune['code']}"))
        record["nom"] = f"Mairie - {commune['nom']}"
        record["code_insee_commune"] = commune["code"]
        record["pivot"] = [
            {"type_service_local": "mairie", "code_insee_commune": [commune["code"]]}
        ]
        record["adresse"][0].update(
            code_postal=commune["codesPostaux"][0],
            nom_commune=commune["nom"],
            latitude="49.4",
            longitude="2.4",
        )
        out.append(record)
    return out


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as s:
        s.replay(GEO / "regions.json", any_query=True, path="/regions")
        s.replay(
            GEO / "departements_zone_metro_drom_com.json", any_query=True, path="/departements"
        )
        s.replay(
            GEO / "communes_codeDepartement_60.json",
            any_query=True,
            path="/departements/60/communes",
        )
        s.route("/epcis", Reply.json([]))  # an empty answer is not an error
        s.route("/communes_associees_deleguees", Reply.json([]))
        yield s


def fetcher() -> HttpFetcher:
    return HttpFetcher(allow_private_hosts={"127.0.0.1"}, backoff_initial=0.01, backoff_max=0.05)


def endpoints(server: ReplayServer) -> Endpoints:
    return Endpoints(
        geo_api=server.base_url,
        service_public=server.url("/explore/v2.1"),
        datagouv=server.url("/api/1"),
    )


# The HTTP path does not depend on the mode: the embedded platform is enough here.


@pytest.mark.parametrize("platform", ["embedded"], indirect=True)
def test_territories_then_offices_over_http_with_pagination_failures_and_etags(
    platform: Platform, server: ReplayServer
) -> None:
    with fetcher() as f:
        summary = platform.harvest(
            "territories", territory="60", fetcher=f, endpoints=endpoints(server)
        )
    assert summary.status.value == "done", summary.error
    assert summary.counts["new"] == 18 + 109 + 679  # régions, départements, communes of Oise
    assert platform.get("/territories/60172")["name"] == "Coye-la-Forêt"

    records = offices(250)
    calls: list[RecordedRequest] = []

    def paginated(request: RecordedRequest) -> Reply:
        calls.append(request)
        if len(calls) <= 2:
            return Reply.json({"error_code": "ServiceUnavailable"}, status=503)
        limit, offset = int(request.param("limit") or 10), int(request.param("offset") or 0)
        if limit > 100:
            return Reply.json({"error_code": "InvalidRESTParameterError"}, status=400)
        where = request.param("where") or ""
        wanted = [r for r in records if f'"{r["code_insee_commune"]}"' in where]
        return Reply.json({"total_count": len(wanted), "results": wanted[offset : offset + limit]})

    server.route(RECORDS_PATH, paginated)
    with fetcher() as f:
        summary = platform.harvest(
            "service-public", territory="60", fetcher=f, endpoints=endpoints(server)
        )
        assert f.stats.retries == 2, "two 503 answers, then the server recovers"
    assert summary.status.value == "done", summary.error
    assert summary.counts["new"] == 250
    pages = [c for c in calls[2:]]
    assert all(int(c.param("limit") or 0) <= 100 for c in pages)
    assert len(pages) >= 3, "250 offices need several pages"
    coye = platform.get("/entries", territory="60172")["items"]
    assert [e["title"] for e in coye] == ["Mairie - Coye-la-Forêt"]

    # A second harvest sends the recorded validators: geo.api answers 304, nothing changes.
    with fetcher() as f:
        f.get_json(server.url("/regions"))
        assert f.get_json(server.url("/regions")) is None
        assert f.stats.not_modified == 1


@pytest.mark.parametrize("platform", ["embedded"], indirect=True)
def test_datagouv_pages_by_geozone_and_a_source_that_stays_down(
    platform: Platform, server: ReplayServer
) -> None:
    with fetcher() as f:
        platform.harvest("territories", territory="60", fetcher=f, endpoints=endpoints(server))
    dataset = json.loads((E2E / "datagouv" / "page.json").read_text())["data"][0]
    datasets = []
    for n in range(45):
        d = copy.deepcopy(dataset)
        d["id"] = f"{n:024x}"
        d["title"] = f"Jeu de données n° {n} de Chantilly"
        d["spatial"]["zones"] = ["fr:commune:60141"]
        datasets.append(d)

    def by_zone(request: RecordedRequest) -> Reply:
        zone = request.param("geozone") or ""
        page, size = int(request.param("page") or 1), int(request.param("page_size") or 20)
        mine = [d for d in datasets if zone in d["spatial"]["zones"]]
        chunk = mine[(page - 1) * size : page * size]
        more = page * size < len(mine)
        next_page = (
            server.url("/api/1/datasets/", {"geozone": zone, "page": page + 1, "page_size": size})
            if more
            else None
        )
        return Reply.json(
            {
                "data": chunk,
                "page": page,
                "page_size": size,
                "total": len(mine),
                "next_page": next_page,
                "previous_page": None,
            }
        )

    server.route("/api/1/datasets/", by_zone)
    with fetcher() as f:
        summary = platform.harvest(
            "datagouv", territory="60141", fetcher=f, endpoints=endpoints(server)
        )
    assert summary.status.value == "done", summary.error
    assert summary.counts["new"] == 45
    page = platform.get("/entries", kind="dataset", territory="60141", limit=100)
    assert len(page["items"]) == 45

    server.route("/api/1/datasets/", Reply.json({"message": "maintenance"}, status=503))
    with fetcher() as f:
        failed = platform.harvest(
            "datagouv", territory="60141", fetcher=f, endpoints=endpoints(server)
        )
    assert failed.status.value == "failed"
    assert "503" in (failed.error or "")
    assert failed.counts["archived"] == 0, "a failed run archives nothing"
    assert len(platform.get("/entries", kind="dataset", limit=100)["items"]) == 45
