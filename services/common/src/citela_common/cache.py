"""A small cache for hot reads: Redis in the distributed mode, in-process when embedded.

Invalidation by generation: readers build keys with the tenant's current generation, and a
writer bumps the generation after a change, so stale entries are simply never read again
(and expire on their TTL).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from cachetools import TTLCache

from citela_common.logging import get_logger
from citela_common.metrics import CACHE_ERRORS

log = get_logger(__name__)

T = TypeVar("T")
_MISSING = object()


class Cache(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes, ttl_s: int) -> None: ...
    def generation(self, scope: str) -> int: ...
    def bump(self, scope: str) -> None: ...
    def ping(self) -> bool:
        """The store answers (raises otherwise): a readiness probe."""
        ...


class MemoryCache:
    def __init__(self, maxsize: int = 2048, ttl_s: int = 300) -> None:
        self._data: TTLCache[str, bytes] = TTLCache(maxsize=maxsize, ttl=ttl_s)
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._data.get(key)

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        with self._lock:
            self._data[key] = value

    def generation(self, scope: str) -> int:
        with self._lock:
            return self._generations.get(scope, 0)

    def bump(self, scope: str) -> None:
        with self._lock:
            self._generations[scope] = self._generations.get(scope, 0) + 1

    def ping(self) -> bool:
        return True


# After a Redis error, the cache stays off (misses, no writes) this long before it tries
# again: requests do not each pay a connection attempt while Redis is down.
REDIS_RETRY_AFTER_S = 1.0


class RedisCache:
    """The cache on Redis, failing open: Redis out of reach is a miss, never an error.

    While Redis errors, a read is a miss (the body is built from the database), nothing is
    stored, and ``generation`` answers a number of its own (negative, never the same twice),
    so nothing derived in this process is kept under it either. A ``bump`` that fails is
    kept and done again before anything else once Redis answers (``ping`` every second from
    the readiness probe, or the next call): a body cached before the change is not served
    after Redis comes back. Each error counts in ``citela_cache_errors_total``.
    """

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self._lock = threading.Lock()
        self._off_until = 0.0
        self._unbumped: set[str] = set()  # scopes whose bump Redis did not take
        self._uncached = itertools.count(1)

    def _usable(self) -> bool:
        """Redis may be tried now (and the bumps it missed were redone)."""
        if time.monotonic() < self._off_until:
            return False
        if self._unbumped:
            with self._lock:
                pending, self._unbumped = self._unbumped, set()
            try:
                pipe = self._redis.pipeline(transaction=False)
                for scope in pending:
                    pipe.incr(f"{self.prefix}:gen:{scope}")
                pipe.execute()
            except Exception as exc:
                with self._lock:
                    self._unbumped |= pending
                self._failed("bump", exc)
                return False
        return True

    def _failed(self, op: str, exc: Exception) -> None:
        CACHE_ERRORS.labels(cache=self.prefix, op=op).inc()
        with self._lock:
            first = time.monotonic() >= self._off_until
            self._off_until = time.monotonic() + REDIS_RETRY_AFTER_S
        if first:
            log.warning("cache.redis_unavailable", cache=self.prefix, op=op, error=repr(exc))

    def get(self, key: str) -> bytes | None:
        if not self._usable():
            return None
        try:
            value = self._redis.get(f"{self.prefix}:{key}")
        except Exception as exc:
            self._failed("get", exc)
            return None
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        if not self._usable():
            return
        try:
            self._redis.set(f"{self.prefix}:{key}", value, ex=ttl_s)
        except Exception as exc:
            self._failed("set", exc)

    def generation(self, scope: str) -> int:
        if self._usable():
            try:
                value = self._redis.get(f"{self.prefix}:gen:{scope}")
                return int(value) if isinstance(value, bytes | str) else 0
            except Exception as exc:
                self._failed("generation", exc)
        return -next(self._uncached)  # matches no key stored before nor after

    def bump(self, scope: str) -> None:
        if self._usable():
            try:
                self._redis.incr(f"{self.prefix}:gen:{scope}")
                return
            except Exception as exc:
                self._failed("bump", exc)
        with self._lock:
            self._unbumped.add(scope)

    def ping(self) -> bool:
        """Redis answers (raises otherwise); redoes the bumps it missed (readiness probe)."""
        self._redis.ping()
        with self._lock:
            self._off_until = 0.0
        if not self._usable():
            raise ConnectionError("Redis answered PING but not the pending generation bumps")
        return True


class Memo(Generic[T]):
    """Values of this process computed once per key, by the first thread that asks.

    The concurrent requests of one page view (the dashboard asks for the priorities and ten
    explanations at once) wait for that one computation instead of each doing it. Keys carry
    the cache generation, so a change is never hidden; ``ttl_s`` only bounds the memory.
    """

    def __init__(self, maxsize: int = 64, ttl_s: float = 300.0) -> None:
        self._values: TTLCache[Hashable, T] = TTLCache(maxsize=maxsize, ttl=ttl_s)
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            found = self._values.get(key, _MISSING)
            if found is not _MISSING:
                return found  # type: ignore[return-value]
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                found = self._values.get(key, _MISSING)
            if found is not _MISSING:
                return found  # type: ignore[return-value]
            try:
                value = compute()
                with self._lock:
                    self._values[key] = value
                return value
            finally:
                with self._lock:
                    self._building.pop(key, None)


def create_cache(redis_url: str | None, prefix: str) -> Cache:
    return RedisCache(redis_url, prefix) if redis_url else MemoryCache()
