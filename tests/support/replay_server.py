"""A real HTTP server on 127.0.0.1 that replays recorded (or scripted) responses.

    with ReplayServer() as server:
        server.replay(sample("geo-api", "regions.json"))      # route taken from the recording
        server.route("/flaky", [Reply(503), Reply(503), Reply.json({"ok": True})])
        server.paginate_offset("/records", records)           # Opendatasoft limit/offset
        server.paginate_pages("/api/1/organizations/", orgs)  # udata page/page_size/next_page
        server.redirect("/old", "/new")
        fetcher.get_json(server.url("/flaky"))
        assert [r.path for r in server.requests] == [...]

Routes map a path plus, optionally, an exact set of query parameters to a reply; a route without
query matches any query on its path, after the exact ones. A route's responder is a ``Reply``
(always the same), a list of replies (the n-th request gets the n-th, then the last one repeats:
scripted failures) or a function of the ``RecordedRequest``.

Conditional requests work on every 2xx reply that carries an ``ETag`` (or ``Last-Modified``): a
matching ``If-None-Match`` (or, without it, ``If-Modified-Since``) gets 304 with no body.
A reply's ``delay`` holds the answer back (timeout tests); ``stop()`` cuts delays short.
Every request received is recorded (method, path, query, headers) for assertions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

# Recorded headers that describe the recorded connection, not the response: the server writes
# its own (the body is stored decoded, so Content-Encoding would lie; Content-Length is
# recomputed: a recorded one can disagree with the stored body by a byte).
_HOP_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}
    | {"date", "server"}  # http.server writes these itself
)
_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True)
class Reply:
    """One response: status, headers (ordered pairs; a name may repeat), body, delay."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    delay: float = 0.0  # seconds before the status line is sent

    @classmethod
    def json(
        cls,
        data: Any,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> Reply:
        pairs = [("Content-Type", "application/json; charset=utf-8")]
        pairs += list((headers or {}).items())
        body = json.dumps(data, ensure_ascii=False).encode()
        return cls(status, tuple(pairs), body, delay)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status, (("Location", location),))

    @classmethod
    def from_recording(cls, body_file: Path, meta_file: Path | None = None) -> Reply:
        return load_recording(body_file, meta_file).reply

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def with_headers(self, headers: Mapping[str, str]) -> Reply:
        """A copy with ``headers`` set (replacing same-named ones)."""
        names = {k.lower() for k in headers}
        kept = tuple((k, v) for k, v in self.headers if k.lower() not in names)
        return replace(self, headers=kept + tuple(headers.items()))


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    raw_path: str = ""

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


Responder = Callable[[RecordedRequest], Reply]


@dataclass(frozen=True)
class Recording:
    """A recorded body with its ``*.http-meta.json``: where it was asked for, what came back."""

    path: str
    query: dict[str, str]
    reply: Reply
    request_uri: str


def meta_file_for(body_file: Path) -> Path:
    """``regions.json`` -> ``regions.http-meta.json``."""
    return body_file.with_name(body_file.name.removesuffix(".json") + ".http-meta.json")


def load_recording(body_file: Path, meta_file: Path | None = None) -> Recording:
    """Read a recorded body and its meta file (both shapes found in the samples: ``status``
    as an int or ``{"code": …}``, header values as strings or lists of strings)."""
    meta_path = meta_file if meta_file is not None else meta_file_for(body_file)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    status_field = meta.get("status", 200)
    status = int(status_field["code"] if isinstance(status_field, dict) else status_field)
    headers: list[tuple[str, str]] = []
    for name, value in (meta.get("response_headers") or {}).items():
        if name.lower() in _HOP_HEADERS:
            continue
        for one in value if isinstance(value, list) else [value]:
            headers.append((name, str(one)))
    uri = str(meta.get("request_uri", ""))
    split = urlsplit(uri)
    query = dict(parse_qsl(split.query, keep_blank_values=True))
    reply = Reply(status, tuple(headers), body_file.read_bytes())
    return Recording(split.path or "/", query, reply, uri)


@dataclass
class _Sequence:
    replies: Sequence[Reply]
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: RecordedRequest) -> Reply:
        with self.lock:
            index = min(self.calls, len(self.replies) - 1)
            self.calls += 1
        return self.replies[index]


def _query_key(query: Mapping[str, str] | Sequence[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    items = query.items() if isinstance(query, Mapping) else query
    return frozenset((str(k), str(v)) for k, v in items)


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): ``W/"x"`` matches ``"x"``."""
    if if_none_match.strip() == "*":
        return True

    def opaque(tag: str) -> str:
        return tag.strip().removeprefix("W/")

    return any(opaque(candidate) == opaque(etag) for candidate in if_none_match.split(","))


def _not_modified(request: RecordedRequest, reply: Reply) -> bool:
    if not 200 <= reply.status < 300:
        return False
    etag = reply.header("ETag")
    if_none_match = request.header("If-None-Match")
    if if_none_match is not None:
        return etag is not None and _etag_matches(if_none_match, etag)
    last_modified = reply.header("Last-Modified")
    since = request.header("If-Modified-Since")
    if last_modified is None or since is None:
        return False
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return last_modified == since


class ReplayServer:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 (a free port) in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._routes: dict[tuple[str, frozenset[tuple[str, str]] | None], Responder] = {}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> ReplayServer:
        self._stopping.clear()
        handler = _make_handler(self)
        httpd = ThreadingHTTPServer((self._host, 0), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False  # keep-alive connections must not hold stop() up
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the replay server is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def url(self, path: str, params: Mapping[str, str | int] | None = None) -> str:
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.base_url}{path}{query}"

    # -- routes

    def route(
        self,
        path: str,
        responder: Reply | Sequence[Reply] | Responder,
        *,
        query: Mapping[str, str] | None = None,
    ) -> None:
        """Answer ``path`` (with exactly ``query``, or any query when None) with ``responder``."""
        if isinstance(responder, Reply):
            fixed = responder
            fn: Responder = lambda _request: fixed  # noqa: E731
        elif isinstance(responder, Sequence):
            if not responder:
                raise ValueError("a scripted route needs at least one reply")
            fn = _Sequence(list(responder))
        else:
            fn = responder
        key = (path, None if query is None else _query_key(query))
        with self._lock:
            self._routes[key] = fn

    def replay(
        self,
        body_file: Path,
        meta_file: Path | None = None,
        *,
        path: str | None = None,
        query: Mapping[str, str] | None = None,
        any_query: bool = False,
    ) -> Recording:
        """Serve a recording where it was recorded (its ``request_uri`` path and query), or at
        ``path`` / ``query`` when given; ``any_query`` matches whatever query is sent."""
        recording = load_recording(body_file, meta_file)
        route_query = None if any_query else (query if query is not None else recording.query)
        self.route(path or recording.path, recording.reply, query=route_query)
        return recording

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.route(path, Reply.redirect(location, status))

    def paginate_offset(
        self,
        path: str,
        records: Sequence[Any],
        *,
        default_limit: int = 10,
        max_limit: int = 100,
        max_window: int = 10_000,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Opendatasoft Explore v2.1 ``/records``: ``limit`` / ``offset`` params, the envelope
        ``{"total_count", "results"}``; limit over ``max_limit`` or offset+limit over
        ``max_window`` answers 400, as the real API does."""

        def respond(request: RecordedRequest) -> Reply:
            try:
                limit = int(request.param("limit") or default_limit)
                offset = int(request.param("offset") or 0)
            except ValueError:
                return _ods_error("limit and offset must be integers")
            if not 0 <= limit <= max_limit:
                return _ods_error(f"Invalid value for limit: {limit} (0 <= limit <= {max_limit})")
            if offset < 0 or offset + limit > max_window:
                return _ods_error(f"offset + limit must be <= {max_window}")
            page = list(records[offset : offset + limit])
            return Reply.json({"total_count": len(records), "results": page}, headers=headers)

        self.route(path, respond)

    def paginate_pages(
        self,
        path: str,
        records: Sequence[Any],
        *,
        default_page_size: int = 20,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """udata API v1 lists: ``page`` (from 1) / ``page_size`` params, the envelope
        ``{"data", "page", "page_size", "total", "next_page", "previous_page"}`` with absolute
        next/previous URLs (null at the ends). A page past the end has empty ``data``."""

        def respond(request: RecordedRequest) -> Reply:
            try:
                page = int(request.param("page") or 1)
                size = int(request.param("page_size") or default_page_size)
            except ValueError:
                return Reply.json({"message": "page and page_size must be integers"}, 400)
            if page < 1 or size < 1:
                return Reply.json({"message": "page and page_size must be positive"}, 400)
            start = (page - 1) * size
            others = {k: v[0] for k, v in request.query.items() if k not in ("page",)}

            def link(number: int) -> str:
                return self.url(path, {**others, "page": number})

            body = {
                "data": list(records[start : start + size]),
                "page": page,
                "page_size": size,
                "total": len(records),
                "next_page": link(page + 1) if start + size < len(records) else None,
                "previous_page": link(page - 1) if page > 1 else None,
            }
            return Reply.json(body, headers=headers)

        self.route(path, respond)

    # -- what was received

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- used by the handler

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _answer(self, request: RecordedRequest) -> Reply:
        exact = (request.path, _query_key(_query_pairs(request)))
        with self._lock:
            responder = self._routes.get(exact) or self._routes.get((request.path, None))
        if responder is None:
            return Reply.json({"error": f"no route for {request.raw_path}"}, 404)
        reply = responder(request)
        if _not_modified(request, reply):
            kept = tuple(
                (k, v)
                for k, v in reply.headers
                if k.lower() in ("etag", "last-modified", "cache-control", "vary", "expires")
            )
            return Reply(304, kept, b"", reply.delay)
        return reply

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


def _query_pairs(request: RecordedRequest) -> list[tuple[str, str]]:
    return [(k, v) for k, values in request.query.items() for v in values]


def _ods_error(message: str) -> Reply:
    return Reply.json({"error_code": "InvalidRESTParameterError", "message": message}, 400)


def _make_handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "CitelaReplay/1"

        def do_GET(self) -> None:
            self._handle(send_body=True)

        def do_HEAD(self) -> None:
            self._handle(send_body=False)

        def _handle(self, *, send_body: bool) -> None:
            split = urlsplit(self.path)
            request = RecordedRequest(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                raw_path=self.path,
            )
            server._record(request)
            reply = server._answer(request)
            server._wait(reply.delay)
            try:
                self._write(reply, send_body=send_body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
                self.close_connection = True

        def _write(self, reply: Reply, *, send_body: bool) -> None:
            try:
                phrase = HTTPStatus(reply.status).phrase
            except ValueError:
                phrase = ""
            self.send_response(reply.status, phrase)
            for name, value in reply.headers:
                self.send_header(name, value)
            if reply.status not in _NO_BODY_STATUSES:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if send_body and reply.status not in _NO_BODY_STATUSES:
                self.wfile.write(reply.body)
            self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the test asserts on server.requests instead

    return Handler


def iter_recordings(folder: Path) -> Iterator[tuple[Path, Path]]:
    """Every ``(body, meta)`` pair in ``folder`` (bodies without a meta file are skipped)."""
    for meta in sorted(folder.glob("*.http-meta.json")):
        body = meta.with_name(meta.name.removesuffix(".http-meta.json") + ".json")
        if body.exists():
            yield body, meta
