"""HttpFetcher against a real local HTTP server replaying the recorded open-data responses.

Only 127.0.0.1 is ever connected to. The SSRF tests check that a private destination is refused
before any connection: a spy transport shows which URLs reached the network layer, and host names
are resolved by a fake resolver, never by DNS.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import pickle
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from citela_ingest.http import (
    FetchError,
    HttpFetcher,
    InMemoryValidatorStore,
    IPAddress,
    SSRFBlocked,
    Validators,
    is_public_address,
    request_key,
)
from citela_ingest.records import Fetcher
from tests.support.replay_server import RecordedRequest, ReplayServer, Reply, load_recording
from tests.support.samples import sample

LOOPBACK = "127.0.0.1"
MakeFetcher = Callable[..., HttpFetcher]
ODS_RECORDS = "/api/explore/v2.1/catalog/datasets/api-lannuaire-administration/records"

GEO_COMMUNES_60 = sample("geo-api", "communes_codeDepartement_60.json")
GEO_REGIONS = sample("geo-api", "regions.json")
SP_RECORD = sample("service-public", "api_lannuaire_records_where_siret_20004021000060.json")
SP_EMPTY = sample("service-public", "api_lannuaire_records_empty_result.json")
UDATA_ORGS = sample("datagouv", "api1_organizations_list_page1_sort-followers.json")


class SpyTransport(httpx.HTTPTransport):
    """The real transport, noting every URL it is asked to connect to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[httpx.URL] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return super().handle_request(request)


def fake_resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[IPAddress]]:
    """Resolves from ``table`` only: any other name fails the test (no DNS in tests)."""

    def resolve(host: str, port: int) -> list[IPAddress]:
        if host not in table:
            pytest.fail(f"unexpected resolution of {host!r}")
        return [ipaddress.ip_address(a) for a in table[host]]

    return resolve


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as replay:
        yield replay


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_fetcher(sleeps: list[float]) -> Iterator[MakeFetcher]:
    """An HttpFetcher allowed to reach 127.0.0.1, with tiny timeouts; waits are recorded in
    ``sleeps`` instead of slept (pass ``sleep=time.sleep`` to really wait)."""
    made: list[HttpFetcher] = []

    def make(**overrides: Any) -> HttpFetcher:
        options: dict[str, Any] = {
            "allow_private_hosts": frozenset({LOOPBACK}),
            "timeout": httpx.Timeout(2.0),
            "max_attempts": 3,
            "backoff_initial": 0.001,
            "backoff_max": 0.01,
            "max_retry_after": 5.0,
            "sleep": sleeps.append,
            **overrides,
        }
        fetcher = HttpFetcher(**options)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        fetcher.close()


# --------------------------------------------------------------------------------------------
# Reading the recorded feeds; conditional requests


def test_geo_api_etag_then_304(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    recording = server.replay(GEO_COMMUNES_60)
    etag = recording.reply.header("Etag")
    assert etag is not None
    assert etag.startswith('W/"')
    fetcher: Fetcher = make_fetcher()
    params: dict[str, str | int] = {
        "codeDepartement": "60",
        "type": "commune-actuelle,arrondissement-municipal",
    }

    communes = fetcher.get_json(server.url("/communes"), params)
    assert len(communes) == 679
    assert {"nom", "code", "codeDepartement", "codesPostaux"} <= communes[0].keys()

    assert fetcher.get_json(server.url("/communes"), params) is None

    first, second = server.requests_to("/communes")
    assert first.header("If-None-Match") is None
    assert second.header("If-None-Match") == etag
    assert "Citela" in (first.header("User-Agent") or "")
    assert first.header("Accept") == "application/json"
    assert isinstance(fetcher, HttpFetcher)
    assert fetcher.stats.as_dict() | {"bytes_received": 0} == {
        "requests": 2,
        "retries": 0,
        "not_modified": 1,
        "redirects": 0,
        "failures": 0,
        "bytes_received": 0,
    }
    assert fetcher.stats.bytes_received == GEO_COMMUNES_60.stat().st_size


def test_validators_are_keyed_by_url_and_params(
    server: ReplayServer, make_fetcher: MakeFetcher
) -> None:
    server.replay(GEO_REGIONS)
    store = InMemoryValidatorStore()
    fetcher = make_fetcher(validator_store=store)

    assert len(fetcher.get_json(server.url("/regions"))) == 18
    assert fetcher.get_json(server.url("/regions")) is None
    # Another query is another document: no validators sent (and no route: 404 here).
    with pytest.raises(FetchError):
        fetcher.get_json(server.url("/regions"), {"fields": "nom"})
    assert server.requests[-1].header("If-None-Match") is None

    stored = store.get(request_key(server.url("/regions")))
    assert stored is not None
    assert stored.etag == load_recording(GEO_REGIONS).reply.header("Etag")
    assert request_key("http://h/p?b=2", {"a": 1}) == request_key("http://h/p?a=1&b=2")


def test_conditional_false_reads_in_full(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    server.replay(GEO_REGIONS)
    fetcher = make_fetcher()
    fetcher.get_json(server.url("/regions"))
    assert len(fetcher.get_json(server.url("/regions"), conditional=False)) == 18
    assert server.requests[-1].header("If-None-Match") is None


def test_last_modified_is_sent_back(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    server.route("/dump.json", Reply.json({"v": 1}, headers={"Last-Modified": stamp}))
    fetcher = make_fetcher()
    assert fetcher.get_json(server.url("/dump.json")) == {"v": 1}
    assert fetcher.get_json(server.url("/dump.json")) is None
    assert server.requests[-1].header("If-Modified-Since") == stamp


def test_service_public_has_no_validators(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    """Opendatasoft answers no-store without ETag: every call reads the document again."""
    server.replay(SP_RECORD)
    server.replay(SP_EMPTY)
    fetcher = make_fetcher()
    url = server.url(ODS_RECORDS)

    for _ in range(2):
        page = fetcher.get_json(url, {"where": "siret:20004021000060"})
        assert page["total_count"] == 1
        assert json.loads(page["results"][0]["pivot"])[0]["type_service_local"] == "epci"
    assert fetcher.get_json(url, {"where": "siret:20004021000000"}) == {
        "total_count": 0,
        "results": [],
    }
    assert all(r.header("If-None-Match") is None for r in server.requests)
    assert fetcher.stats.not_modified == 0


def test_unexpected_304_is_an_error(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    server.route("/odd", Reply(304))
    with pytest.raises(FetchError, match="unconditional") as caught:
        make_fetcher().get_json(server.url("/odd"))
    assert caught.value.status == 304


# --------------------------------------------------------------------------------------------
# Pagination (the replay server's scenarios, read through the fetcher)


def test_opendatasoft_offset_pagination(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    record = json.loads(SP_RECORD.read_bytes())["results"][0]
    records = [{**record, "id": f"id-{n}"} for n in range(25)]
    server.paginate_offset(ODS_RECORDS, records)
    fetcher = make_fetcher()

    seen: list[str] = []
    offset = 0
    while True:
        page = fetcher.get_json(server.url(ODS_RECORDS), {"limit": 10, "offset": offset})
        seen += [r["id"] for r in page["results"]]
        offset += 10
        if offset >= page["total_count"]:
            break
    assert seen == [f"id-{n}" for n in range(25)]

    with pytest.raises(FetchError) as caught:  # limit over 100: 400, no retry
        fetcher.get_json(server.url(ODS_RECORDS), {"limit": 101})
    assert caught.value.status == 400
    assert fetcher.stats.retries == 0


def test_udata_next_page_pagination(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    orgs = json.loads(UDATA_ORGS.read_bytes())["data"]
    server.paginate_pages("/api/1/organizations/", orgs, default_page_size=8)
    fetcher = make_fetcher()

    names: list[str] = []
    url: str | None = server.url("/api/1/organizations/", {"sort": "-followers"})
    while url is not None:
        page = fetcher.get_json(url)
        names += [o["name"] for o in page["data"]]
        url = page["next_page"]
    assert names == [o["name"] for o in orgs]
    assert [r.param("page") for r in server.requests] == [None, "2", "3"]
    assert all(r.param("sort") == "-followers" for r in server.requests)


# --------------------------------------------------------------------------------------------
# Retries


def test_503_twice_then_success(
    server: ReplayServer, make_fetcher: MakeFetcher, sleeps: list[float]
) -> None:
    regions = Reply.from_recording(GEO_REGIONS)
    server.route("/regions", [Reply(503), Reply(503), regions])
    fetcher = make_fetcher()

    assert len(fetcher.get_json(server.url("/regions"))) == 18
    assert len(server.requests_to("/regions")) == 3
    assert fetcher.stats.retries == 2
    assert fetcher.stats.failures == 0
    assert len(sleeps) == 2
    assert all(0 < s <= 0.01 + 0.001 for s in sleeps)  # exponential backoff, capped


def test_5xx_gives_up_after_max_attempts(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    server.route("/down", Reply(502))
    fetcher = make_fetcher(max_attempts=4)
    with pytest.raises(FetchError, match="4 attempts") as caught:
        fetcher.get_json(server.url("/down"))
    assert caught.value.status == 502
    assert caught.value.url == server.url("/down")
    assert len(server.requests) == 4
    assert fetcher.stats.retries == 3
    assert fetcher.stats.failures == 1


@pytest.mark.parametrize(
    ("retry_after", "waited"),
    [("0", 0.0), ("3", 3.0), ("120", 5.0)],  # 5.0: capped by max_retry_after
)
def test_429_honours_retry_after(
    server: ReplayServer,
    make_fetcher: MakeFetcher,
    sleeps: list[float],
    retry_after: str,
    waited: float,
) -> None:
    server.route(
        "/regions",
        [Reply(429, (("Retry-After", retry_after),)), Reply.from_recording(GEO_REGIONS)],
    )
    fetcher = make_fetcher()
    assert len(fetcher.get_json(server.url("/regions"))) == 18
    assert sleeps == [waited]
    assert fetcher.stats.retries == 1


def test_429_retry_after_zero_with_real_sleep(
    server: ReplayServer, make_fetcher: MakeFetcher
) -> None:
    server.route("/r", [Reply(429, (("Retry-After", "0"),)), Reply.json([1])])
    fetcher = make_fetcher(sleep=time.sleep)
    started = time.monotonic()
    assert fetcher.get_json(server.url("/r")) == [1]
    assert time.monotonic() - started < 1.0


def test_429_retry_after_http_date(
    server: ReplayServer, make_fetcher: MakeFetcher, sleeps: list[float]
) -> None:
    past = "Wed, 21 Oct 2015 07:28:00 GMT"  # already passed: no wait
    server.route("/r", [Reply(429, (("Retry-After", past),)), Reply.json([1])])
    assert make_fetcher().get_json(server.url("/r")) == [1]
    assert sleeps == [0.0]


def test_404_fails_at_once(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    server.route(
        "/communes/99999", Reply.json({"code": 404, "message": "Commune non trouvée"}, 404)
    )
    fetcher = make_fetcher()
    with pytest.raises(FetchError) as caught:
        fetcher.get_json(server.url("/communes/99999"))
    assert caught.value.status == 404
    assert caught.value.reason == "Not Found"
    assert "404" in str(caught.value)
    assert len(server.requests) == 1
    assert fetcher.stats.retries == 0


def test_invalid_json_is_a_fetch_error(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    truncated = SP_RECORD.read_bytes()[:500]
    server.route("/truncated", Reply(200, (("Content-Type", "application/json"),), truncated))
    server.route("/html", Reply(200, (("Content-Type", "text/html"),), b"<html>Maintenance</html>"))
    fetcher = make_fetcher()
    for path in ("/truncated", "/html"):
        with pytest.raises(FetchError, match="invalid JSON") as caught:
            fetcher.get_json(server.url(path))
        assert caught.value.status == 200
    assert len(server.requests) == 2  # not retried
    assert fetcher.stats.failures == 2


def test_timeouts_are_retried_then_fail(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    server.route("/slow", Reply.json({"late": True}, delay=2.0))
    fetcher = make_fetcher(timeout=httpx.Timeout(0.2), max_attempts=3)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timeout.*3 attempts") as caught:
        fetcher.get_json(server.url("/slow"))
    assert time.monotonic() - started < 1.5
    assert caught.value.status is None
    assert len(server.requests) == 3
    assert fetcher.stats.retries == 2


def test_one_timeout_then_success(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    server.route("/flaky", [Reply.json({"n": 1}, delay=2.0), Reply.json({"n": 2})])
    fetcher = make_fetcher(timeout=httpx.Timeout(0.2))
    assert fetcher.get_json(server.url("/flaky")) == {"n": 2}
    assert fetcher.stats.retries == 1


def test_connection_refused_is_retried(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    dead = ReplayServer().start()
    url = dead.url("/gone")
    dead.stop()
    fetcher = make_fetcher()
    with pytest.raises(FetchError, match="transport error"):
        fetcher.get_json(url)
    assert fetcher.stats.retries == 2


# --------------------------------------------------------------------------------------------
# Size limit


def test_response_over_the_size_limit_is_refused(
    server: ReplayServer, make_fetcher: MakeFetcher
) -> None:
    server.replay(GEO_COMMUNES_60)
    fetcher = make_fetcher(max_bytes=10_000)
    with pytest.raises(FetchError, match="too large"):
        fetcher.get_json(
            server.url("/communes"),
            {"codeDepartement": "60", "type": "commune-actuelle,arrondissement-municipal"},
        )
    assert fetcher.stats.retries == 0


def test_compressed_body_is_measured_after_decompression(
    server: ReplayServer, make_fetcher: MakeFetcher
) -> None:
    bomb = gzip.compress(b"[" + b"0," * 100_000 + b"0]")
    assert len(bomb) < 10_000
    server.route(
        "/bomb",
        Reply(200, (("Content-Type", "application/json"), ("Content-Encoding", "gzip")), bomb),
    )
    with pytest.raises(FetchError, match="too large"):
        make_fetcher(max_bytes=10_000).get_json(server.url("/bomb"))
    assert len(make_fetcher().get_json(server.url("/bomb"))) == 100_001


# --------------------------------------------------------------------------------------------
# Redirects and SSRF


def test_redirect_chain_to_an_allowed_host(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    server.redirect("/old", "/moved", 301)  # relative
    server.redirect("/moved", server.url("/regions"), 307)  # absolute, same allowed host
    server.replay(GEO_REGIONS)
    fetcher = make_fetcher()

    assert len(fetcher.get_json(server.url("/old"))) == 18
    assert [r.path for r in server.requests] == ["/old", "/moved", "/regions"]
    assert fetcher.stats.redirects == 2
    assert fetcher.stats.requests == 3

    # Validators are remembered for the URL asked for, and sent on every hop.
    assert fetcher.get_json(server.url("/old")) is None
    assert server.requests[-1].path == "/regions"
    assert server.requests[-1].header("If-None-Match") is not None


def test_redirect_loop_stops(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    server.redirect("/loop", "/loop")
    with pytest.raises(FetchError, match="too many redirects"):
        make_fetcher(max_redirects=5).get_json(server.url("/loop"))
    assert len(server.requests) == 6  # the first request and 5 redirects followed


def test_redirect_without_location(server: ReplayServer, make_fetcher: MakeFetcher) -> None:
    server.route("/r", Reply(302))
    with pytest.raises(FetchError, match="without a Location"):
        make_fetcher().get_json(server.url("/r"))


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/latest",
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.1.1:8080/admin",
        "http://[::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://0.0.0.0/",
        "http://metadata.internal/computeMetadata/v1/",  # resolves to 169.254.169.254
        "http://localhost/",  # loopback, but not the allowed name
        "http://mixed.example/",  # one public and one private address
        "file:///etc/passwd",
    ],
)
def test_redirect_to_a_private_address_is_refused(
    server: ReplayServer, make_fetcher: MakeFetcher, target: str
) -> None:
    server.redirect("/start", "/hop")
    server.redirect("/hop", target)
    spy = SpyTransport()
    resolver = fake_resolver(
        {
            "metadata.internal": ["169.254.169.254"],
            "localhost": ["127.0.0.1", "::1"],
            "mixed.example": ["8.8.8.8", "10.1.2.3"],
        }
    )
    fetcher = make_fetcher(transport=spy, resolver=resolver)

    with pytest.raises(SSRFBlocked, match="SSRF") as caught:
        fetcher.get_json(server.url("/start"))
    assert isinstance(caught.value, FetchError)
    assert caught.value.url == str(httpx.URL(target))
    assert [u.host for u in spy.urls] == [LOOPBACK, LOOPBACK]  # nothing sent to the target
    assert [r.path for r in server.requests] == ["/start", "/hop"]
    assert fetcher.stats.retries == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://127.0.0.2/",  # loopback, other than the allowed address
        "http://2130706433/",  # 127.0.0.1 written as one number
        "http://[fe80::1]/",
        "http://[2002:a00:1::]/",  # 6to4 wrapping 10.0.0.1
        "http://224.0.0.1/",  # multicast
        "http://internal.example/",  # resolves to a private address
    ],
)
def test_direct_request_to_a_private_address_is_refused(
    make_fetcher: MakeFetcher, url: str
) -> None:
    spy = SpyTransport()
    resolver = fake_resolver({"internal.example": ["10.20.30.40"], "2130706433": ["127.0.0.1"]})
    fetcher = make_fetcher(transport=spy, resolver=resolver)
    with pytest.raises(SSRFBlocked, match="SSRF"):
        fetcher.get_json(url)
    assert spy.urls == []
    assert fetcher.stats.requests == 0


def test_loopback_is_refused_unless_allowed(
    server: ReplayServer, make_fetcher: MakeFetcher
) -> None:
    server.replay(GEO_REGIONS)
    spy = SpyTransport()
    with pytest.raises(SSRFBlocked):
        make_fetcher(allow_private_hosts=frozenset(), transport=spy).get_json(
            server.url("/regions")
        )
    assert spy.urls == []
    assert server.requests == []


def test_peer_address_is_checked_after_connecting(
    server: ReplayServer, make_fetcher: MakeFetcher
) -> None:
    """DNS rebinding: the check saw a public address, the connection went to a private one."""
    server.replay(GEO_REGIONS)
    fetcher = make_fetcher(resolver=fake_resolver({"localhost": ["8.8.8.8"]}))
    with pytest.raises(SSRFBlocked, match="connected to non-public address"):
        fetcher.get_json(f"http://localhost:{server.port}/regions")


def test_api_key_does_not_follow_a_redirect_to_another_origin(
    make_fetcher: MakeFetcher,
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.example":
            return httpx.Response(302, headers={"Location": "https://cdn.example/flux.json"})
        return httpx.Response(200, json={"ok": True})

    fetcher = make_fetcher(
        transport=httpx.MockTransport(handler),
        resolver=fake_resolver({"api.example": ["8.8.8.8"], "cdn.example": ["8.8.4.4"]}),
        headers={"X-API-Key": "secret"},
    )
    assert fetcher.get_json("https://api.example/v1/catalog") == {"ok": True}
    assert seen[0].headers.get("X-API-Key") == "secret"
    assert "X-API-Key" not in seen[1].headers


def test_https_to_http_redirect_is_refused(make_fetcher: MakeFetcher) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": "http://api.example/plain"})

    fetcher = make_fetcher(
        transport=httpx.MockTransport(handler),
        resolver=fake_resolver({"api.example": ["8.8.8.8"]}),
    )
    with pytest.raises(FetchError, match="https to http"):
        fetcher.get_json("https://api.example/v1")


# --------------------------------------------------------------------------------------------
# Small pieces


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("10.0.0.1", False),
        ("169.254.169.254", False),
        ("127.0.0.1", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", False),  # IPv4-mapped: refused outright (conservative)
        ("100.64.0.1", False),
        ("198.18.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def test_fetch_error_pickles() -> None:
    error = SSRFBlocked("http://10.0.0.1/", None, "SSRF protection: nope")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, SSRFBlocked)
    assert (copy.url, copy.status, copy.reason) == (error.url, error.status, error.reason)


def test_validators_headers() -> None:
    assert Validators('W/"x"', "Mon, 01 Jan 2024 00:00:00 GMT").request_headers() == {
        "If-None-Match": 'W/"x"',
        "If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT",
    }
    assert not Validators()


def test_replay_server_records_requests(server: ReplayServer) -> None:
    server.route("/echo", lambda r: Reply.json({"q": r.param("q")}))
    with httpx.Client() as client:
        response = client.get(server.url("/echo", {"q": "é"}), headers={"X-Test": "1"})
    assert response.json() == {"q": "é"}
    (request,) = server.requests
    assert isinstance(request, RecordedRequest)
    assert (request.method, request.path, request.query) == ("GET", "/echo", {"q": ["é"]})
    assert request.header("x-test") == "1"


def test_invalid_url_is_a_fetch_error(make_fetcher: MakeFetcher) -> None:
    with pytest.raises(FetchError, match="invalid URL"):
        make_fetcher().get_json("http://[::1")
