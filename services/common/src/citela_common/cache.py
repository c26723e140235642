"""A small cache for hot reads: Redis in the distributed mode, in-process when embedded.

Invalidation by generation: readers build keys with the tenant's current generation, and a
writer bumps the generation after a change, so stale entries are simply never read again
(and expire on their TTL).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from cachetools import TTLCache

T = TypeVar("T")
_MISSING = object()


class Cache(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes, ttl_s: int) -> None: ...
    def generation(self, scope: str) -> int: ...
    def bump(self, scope: str) -> None: ...


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


class RedisCache:
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def get(self, key: str) -> bytes | None:
        value = self._redis.get(f"{self.prefix}:{key}")
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        self._redis.set(f"{self.prefix}:{key}", value, ex=ttl_s)

    def generation(self, scope: str) -> int:
        value = self._redis.get(f"{self.prefix}:gen:{scope}")
        return int(value) if isinstance(value, bytes | str) else 0

    def bump(self, scope: str) -> None:
        self._redis.incr(f"{self.prefix}:gen:{scope}")

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except Exception:
            return False


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
