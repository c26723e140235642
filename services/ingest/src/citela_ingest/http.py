"""Reading JSON documents over HTTP for the ingest sources (the ``Fetcher`` of ``records.py``).

``HttpFetcher`` wraps a synchronous ``httpx.Client`` and adds what harvesting public feeds needs:

* explicit timeouts, and a size limit on every response body (counted after decompression);
* retries with exponential backoff (tenacity) on transport errors, 429 and 5xx, honouring
  ``Retry-After`` up to a cap; any other 4xx fails at once;
* conditional requests: the ``ETag`` / ``Last-Modified`` of each URL + params are kept in a
  ``ValidatorStore`` and sent back as ``If-None-Match`` / ``If-Modified-Since``; a 304 gives None;
* SSRF protection: the host of the first request and of every redirect hop is resolved with
  ``socket.getaddrinfo`` and refused when any of its addresses is not public (private, loopback,
  link-local, reserved, multicast…), before any connection is made. Redirects are followed by hand
  (at most ``max_redirects``) so that each hop is checked; once connected, the peer address is
  checked again, so a DNS answer that changed in between is refused before the body is read.
  ``allow_private_hosts`` names the hosts (e.g. ``127.0.0.1`` in tests) exempt from the check;
  a redirect from such a host to another private address is still refused.

Every failure is a ``FetchError`` (``SSRFBlocked`` for a refused destination) with the URL, the
HTTP status when there was one, and a reason.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any, Final, Protocol

import httpx
import tenacity

from citela_common.logging import get_logger

if TYPE_CHECKING:
    from citela_ingest.records import Fetcher

log = get_logger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> every address the host resolves to. Injectable so tests can fake DNS.
Resolver = Callable[[str, int], list[IPAddress]]

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
DEFAULT_TIMEOUT: Final = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)
DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024


def _version() -> str:
    try:
        return metadata.version("citela-ingest")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


# ASCII only: header values are latin-1 on the wire, so "Citela" rather than "Citéla".
DEFAULT_USER_AGENT: Final = f"Citela-ingest/{_version()} (Citela open-data harvester; httpx)"


# --------------------------------------------------------------------------------------------
# Errors


class FetchError(Exception):
    """A document could not be read: after the retries, or at once when retrying cannot help."""

    def __init__(self, url: str, status: int | None, reason: str) -> None:
        super().__init__(url, status, reason)
        self.url = url
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        where = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.reason}{where}: {self.url}"


class SSRFBlocked(FetchError):
    """The request or one of its redirects points at an address we never fetch from."""


class _Retryable(Exception):
    """Internal: one attempt failed in a way that another attempt may fix."""

    def __init__(self, error: FetchError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


# --------------------------------------------------------------------------------------------
# Conditional requests


@dataclass(frozen=True)
class Validators:
    """What a server said identifies the version it sent (``ETag``, ``Last-Modified``)."""

    etag: str | None = None
    last_modified: str | None = None

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)

    def request_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class ValidatorStore(Protocol):
    """Where the validators of each request (keyed by ``request_key``) are remembered."""

    def get(self, key: str) -> Validators | None: ...

    def put(self, key: str, validators: Validators) -> None: ...

    def discard(self, key: str) -> None: ...


class InMemoryValidatorStore:
    """The default store: a dict, for the life of the process."""

    def __init__(self) -> None:
        self._data: dict[str, Validators] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Validators | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, validators: Validators) -> None:
        with self._lock:
            self._data[key] = validators

    def discard(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


def request_key(url: str, params: Mapping[str, str | int] | None = None) -> str:
    """The store key of a GET: the URL with ``params`` merged in, query pairs sorted."""
    merged = httpx.URL(url)
    if params:
        merged = merged.copy_merge_params(dict(params))
    pairs = tuple(sorted(httpx.QueryParams(merged.query).multi_items()))
    return str(merged.copy_with(params=httpx.QueryParams(pairs)))


# --------------------------------------------------------------------------------------------
# Counters


@dataclass
class FetchStats:
    """Counters for tests and the harvest summary (not thread-safe on their own: the fetcher
    updates them under its lock)."""

    requests: int = 0  # HTTP requests sent, redirect hops included
    retries: int = 0  # attempts started again after a retryable failure
    not_modified: int = 0  # 304 answers to conditional requests
    redirects: int = 0
    failures: int = 0  # FetchErrors raised
    bytes_received: int = 0  # decoded body bytes read

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Address checks


def is_public_address(ip: IPAddress) -> bool:
    """Whether ``ip`` is a globally routable unicast address (and hides no private IPv4)."""
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = [ip.ipv4_mapped, ip.sixtofour]
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
        return all(v4 is None or is_public_address(v4) for v4 in embedded)
    return True


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (``socket.getaddrinfo``), IP literals as they are."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # sockaddr[0] may carry an IPv6 zone ("fe80::1%eth0"): ip_address() accepts it (3.9+).
    return [ipaddress.ip_address(str(info[4][0])) for info in infos]


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


_NOT_MODIFIED: Final = object()


# --------------------------------------------------------------------------------------------
# The fetcher


class HttpFetcher:
    """Implements ``citela_ingest.records.Fetcher`` over ``httpx.Client``; see the module doc.

    Use it as a context manager (or call ``close()``) to release the connection pool.
    """

    def __init__(
        self,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_attempts: int = 4,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 60.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_redirects: int = 5,
        validator_store: ValidatorStore | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        headers: Mapping[str, str] | None = None,
        allow_private_hosts: Iterable[str] = frozenset(),
        resolver: Resolver = resolve_host,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.validators: ValidatorStore = (
            validator_store if validator_store is not None else InMemoryValidatorStore()
        )
        self.allow_private_hosts = frozenset(h.strip("[]").lower() for h in allow_private_hosts)
        self.stats = FetchStats()
        # Sent on every hop to the first request's origin only (an API key must not follow a
        # redirect to another host).
        self._extra_headers = dict(headers or {})
        self._resolver = resolver
        self._sleep = sleep
        self._backoff = tenacity.wait_exponential(
            multiplier=backoff_initial, max=backoff_max
        ) + tenacity.wait_random(0, backoff_initial / 2)
        self._lock = threading.Lock()
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,  # followed by hand, each hop checked
            trust_env=False,  # no proxy from the environment: it would bypass the SSRF check
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            transport=transport,
        )

    # -- lifecycle

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the Fetcher protocol

    def get_json(
        self,
        url: str,
        params: dict[str, str | int] | None = None,
        *,
        conditional: bool = True,
    ) -> Any:
        """GET ``url`` (with ``params``) and decode its JSON body.

        Returns None when the server answers 304 Not Modified to the validators remembered from
        the previous successful call for the same URL + params. ``conditional=False`` sends no
        validators (a full read), but still remembers the new ones.
        """
        try:
            key = request_key(url, params)
            first = httpx.URL(url)
            if params:
                first = first.copy_merge_params(dict(params))
        except (httpx.InvalidURL, TypeError) as exc:
            self._count(failures=1)
            raise FetchError(url, None, f"invalid URL: {exc}") from exc
        stored = self.validators.get(key) if conditional else None
        cond_headers = stored.request_headers() if stored else {}

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            before_sleep=self._before_retry,
            reraise=True,
        )
        try:
            body, validators = retrying(self._attempt, first, cond_headers)
        except _Retryable as exc:
            error = exc.error
            self._count(failures=1)
            raise FetchError(
                error.url,
                error.status,
                f"{error.reason} (gave up after {self.max_attempts} attempts)",
            ) from exc
        except FetchError:
            self._count(failures=1)
            raise

        if body is _NOT_MODIFIED:
            self._count(not_modified=1)
            return None
        if validators:
            self.validators.put(key, validators)
        else:
            self.validators.discard(key)
        return body

    # -- internals

    def _count(self, **increments: int) -> None:
        with self._lock:
            for name, n in increments.items():
                setattr(self.stats, name, getattr(self.stats, name) + n)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after)
        return float(self._backoff(state))

    def _before_retry(self, state: tenacity.RetryCallState) -> None:
        self._count(retries=1)
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "http.retry",
            attempt=state.attempt_number,
            error=str(exc),
            wait_s=round(state.next_action.sleep, 3) if state.next_action else None,
        )

    def _attempt(self, first: httpx.URL, cond_headers: dict[str, str]) -> tuple[Any, Validators]:
        """One attempt: follow up to ``max_redirects`` hops, each checked, and read the body."""
        url = first
        for hop in range(self.max_redirects + 1):
            self._check_destination(url)
            headers = dict(cond_headers)
            if _same_origin(url, first):
                headers.update(self._extra_headers)
            try:
                request = self._client.build_request("GET", url, headers=headers)
                self._count(requests=1)
                response = self._client.send(request, stream=True)
            except httpx.TransportError as exc:
                raise _Retryable(_transport_error(url, exc)) from exc
            try:
                self._check_peer(url, response)
                if response.status_code in REDIRECT_STATUSES:
                    url = self._next_hop(url, response, hop)
                    continue
                return self._read(url, response, bool(cond_headers))
            finally:
                response.close()
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _next_hop(self, url: httpx.URL, response: httpx.Response, hop: int) -> httpx.URL:
        location = response.headers.get("Location")
        if not location:
            raise FetchError(str(url), response.status_code, "redirect without a Location")
        if hop >= self.max_redirects:
            raise FetchError(
                str(url), response.status_code, f"too many redirects (more than {hop})"
            )
        try:
            target = url.join(location)
        except httpx.InvalidURL as exc:
            raise FetchError(str(url), response.status_code, f"bad redirect: {exc}") from exc
        if url.scheme == "https" and target.scheme == "http":
            raise FetchError(
                str(target), response.status_code, "refused redirect from https to http"
            )
        self._count(redirects=1)
        return target

    def _check_destination(self, url: httpx.URL) -> None:
        """Refuse, before connecting, a URL whose host resolves to any non-public address."""
        if url.scheme not in ("http", "https"):
            raise SSRFBlocked(str(url), None, f"SSRF protection: scheme {url.scheme!r} refused")
        host = url.host.lower()
        if not host:
            raise FetchError(str(url), None, "URL without a host")
        if host in self.allow_private_hosts:
            return
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = [ipaddress.ip_address(host)]  # an IP literal: nothing to resolve
        except ValueError:
            addresses = self._resolve(url, host, port)
        if not addresses:
            raise FetchError(str(url), None, f"host {host!r} resolves to no address")
        for address in addresses:
            if not is_public_address(address):
                raise SSRFBlocked(
                    str(url),
                    None,
                    f"SSRF protection: host {host!r} resolves to non-public address {address}",
                )

    def _resolve(self, url: httpx.URL, host: str, port: int) -> list[IPAddress]:
        try:
            return self._resolver(url.raw_host.decode("ascii"), port)
        except socket.gaierror as exc:
            error = FetchError(str(url), None, f"cannot resolve host {host!r}: {exc}")
            if exc.errno == socket.EAI_AGAIN:
                raise _Retryable(error) from exc
            raise error from exc

    def _check_peer(self, url: httpx.URL, response: httpx.Response) -> None:
        """After connecting: refuse a non-public peer (DNS changed since the check)."""
        if url.host.lower() in self.allow_private_hosts:
            return
        stream = response.extensions.get("network_stream")
        if stream is None:  # a mock transport
            return
        peer = stream.get_extra_info("server_addr")
        if not peer:
            return
        try:
            address = ipaddress.ip_address(str(peer[0]))
        except ValueError:
            return
        if not is_public_address(address):
            raise SSRFBlocked(
                str(url),
                None,
                f"SSRF protection: connected to non-public address {address}",
            )

    def _read(
        self, url: httpx.URL, response: httpx.Response, conditional: bool
    ) -> tuple[Any, Validators]:
        status = response.status_code
        where = str(url)
        if status == 304:
            if not conditional:
                raise FetchError(where, status, "304 Not Modified to an unconditional request")
            return _NOT_MODIFIED, Validators()
        if status == 429 or status >= 500:
            retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            reason = "rate limited" if status == 429 else "server error"
            raise _Retryable(FetchError(where, status, reason), retry_after)
        if not 200 <= status < 300:
            raise FetchError(where, status, response.reason_phrase or "unexpected status")

        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(
                where, status, f"response too large ({declared} bytes > {self.max_bytes})"
            )
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchError(
                        where, status, f"response too large (over {self.max_bytes} bytes)"
                    )
                chunks.append(chunk)
        except httpx.DecodingError as exc:
            raise FetchError(where, status, f"cannot decode body: {exc}") from exc
        except httpx.TransportError as exc:
            raise _Retryable(_transport_error(url, exc, status)) from exc
        finally:
            self._count(bytes_received=size)

        try:
            body = json.loads(b"".join(chunks))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FetchError(where, status, f"invalid JSON: {exc}") from exc
        validators = Validators(
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
        )
        return body, validators


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _transport_error(
    url: httpx.URL, exc: httpx.TransportError, status: int | None = None
) -> FetchError:
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "transport error"
    return FetchError(str(url), status, f"{kind}: {type(exc).__name__}: {exc}".rstrip(": "))


if TYPE_CHECKING:

    def _implements_fetcher(fetcher: HttpFetcher) -> Fetcher:
        return fetcher
