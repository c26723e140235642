"""Rate limits: a sliding window per key, in Redis (distributed) or in process (embedded).

The window is approximated the usual cheap way (two fixed windows, the previous one weighted
by how much of it still overlaps the sliding window), which needs two counters per key and
no per-request log. The Redis version runs as one Lua script, so concurrent API processes
share one exact count.

Redis out of reach fails *open*, on a bucket of this process: a partner's POST is still
taken (committed with its outbox event, PostgreSQL being up) rather than refused for an
outage that is ours, and a runaway client is still held, at its limit per API process (so
up to the number of processes times the quota in all) until Redis answers again.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from citela_common.logging import get_logger
from citela_feedback.metrics import RATE_LIMIT_FALLBACK

log = get_logger(__name__)

# After a Redis error, decisions stay in process this long before Redis is tried again.
REDIS_RETRY_AFTER_S = 1.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int, window_s: int = 60) -> Decision: ...

    def hit_many(self, hits: Sequence[tuple[str, int]], window_s: int = 60) -> list[Decision]:
        """``hit`` for each (key, limit), in order (a key may come several times)."""
        ...

    def ping(self) -> bool:
        """The shared store answers (raises otherwise): a readiness probe."""
        ...


def _retry_after(prev: int, cur: int, limit: int, window_s: int, now: float) -> int:
    """Seconds until one more request fits under the sliding estimate."""
    elapsed = now % window_s
    if cur + 1 <= limit and prev > 0:
        # still in this window: the previous window's share decays linearly
        weight_needed = (limit - 1 - cur) / prev
        wait = (1 - weight_needed) * window_s - elapsed
        return max(1, math.ceil(wait))
    # in the next window, this window's count becomes the decaying share
    weight_needed = (limit - 1) / cur if cur else 1.0
    return max(1, math.ceil(window_s - elapsed + (1 - weight_needed) * window_s))


def _decide(prev: int, cur: int, limit: int, window_s: int, now: float) -> tuple[bool, int, int]:
    """(allowed, remaining after this request, retry after seconds)."""
    weight = 1 - (now % window_s) / window_s
    estimated = prev * weight + cur
    if estimated + 1 > limit:
        return False, 0, _retry_after(prev, cur, limit, window_s, now)
    return True, max(0, math.floor(limit - estimated - 1)), 0


class MemoryRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def hit(self, key: str, limit: int, window_s: int = 60) -> Decision:
        now = self._clock()
        window = int(now // window_s)
        with self._lock:
            prev = self._counts.get((key, window - 1), 0)
            cur = self._counts.get((key, window), 0)
            allowed, remaining, retry = _decide(prev, cur, limit, window_s, now)
            if allowed:
                self._counts[(key, window)] = cur + 1
            if len(self._counts) > 100_000:  # forget old windows
                for k in [k for k in self._counts if k[1] < window - 1]:
                    del self._counts[k]
        return Decision(allowed, limit, remaining, retry)

    def hit_many(self, hits: Sequence[tuple[str, int]], window_s: int = 60) -> list[Decision]:
        return [self.hit(key, limit, window_s) for key, limit in hits]

    def ping(self) -> bool:
        return True


_LUA = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local weight = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
if prev * weight + cur + 1 > limit then
  return {0, cur, prev}
end
cur = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, cur - 1, prev}
"""


class RedisRateLimiter:
    def __init__(self, url: str, prefix: str = "citela:feedback:rl") -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self._redis.register_script(_LUA)
        self.prefix = prefix
        self._fallback = MemoryRateLimiter()  # while Redis does not answer (fail open)
        self._off_until = 0.0

    def hit(self, key: str, limit: int, window_s: int = 60) -> Decision:
        return self.hit_many([(key, limit)], window_s)[0]

    def hit_many(self, hits: Sequence[tuple[str, int]], window_s: int = 60) -> list[Decision]:
        """One round trip for many hits (a group of requests): the scripts in one pipeline,
        each still atomic, run in order. Redis out of reach: decided in process."""
        if not hits:
            return []
        if time.monotonic() >= self._off_until:
            try:
                return self._hit_redis(hits, window_s)
            except Exception as exc:  # an outage of Redis: fail open, below
                first = self._off_until == 0.0
                self._off_until = time.monotonic() + REDIS_RETRY_AFTER_S
                if first:
                    log.warning("ratelimit.redis_unavailable", error=repr(exc))
        RATE_LIMIT_FALLBACK.inc(len(hits))
        return self._fallback.hit_many(hits, window_s)

    def _hit_redis(self, hits: Sequence[tuple[str, int]], window_s: int) -> list[Decision]:
        now = time.time()
        if len(hits) == 1:
            ((key, limit),) = hits
            keys, args = self._call(key, limit, window_s, now)
            results = [self._script(keys=keys, args=args)]
        else:
            pipe = self._redis.pipeline(transaction=False)
            for key, limit in hits:
                keys, args = self._call(key, limit, window_s, now)
                self._script(keys=keys, args=args, client=pipe)
            results = pipe.execute()
        if self._off_until:
            self._off_until = 0.0
            log.info("ratelimit.redis_back")
        return [
            _decision(result, limit, window_s, now)
            for result, (_key, limit) in zip(results, hits, strict=True)
        ]

    def ping(self) -> bool:
        """Redis answers (raises otherwise): the readiness probe."""
        return bool(self._redis.ping())

    def _call(self, key: str, limit: int, window_s: int, now: float) -> tuple[list[str], list[Any]]:
        window = int(now // window_s)
        weight = 1 - (now % window_s) / window_s
        keys = [f"{self.prefix}:{key}:{window}", f"{self.prefix}:{key}:{window - 1}"]
        return keys, [repr(weight), limit, window_s * 2]


def _decision(result: Any, limit: int, window_s: int, now: float) -> Decision:
    allowed_raw, cur, prev = result
    # The script decided atomically; the figures for the headers come from its counts.
    _, remaining, retry = _decide(int(prev), int(cur), limit, window_s, now)
    if bool(allowed_raw):
        return Decision(True, limit, remaining, 0)
    return Decision(
        False, limit, 0, retry or _retry_after(int(prev), int(cur), limit, window_s, now)
    )


def create_rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
