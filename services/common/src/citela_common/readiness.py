"""Readiness from what the process already knows, answered in microseconds.

A ``/readyz`` probe never waits on a network call: each dependency is probed by a thread of
its own every ``interval_s`` (a ``SELECT 1``, a Redis ``PING``, a Kafka metadata request, each
with short timeouts), and the relay and consumers report what their last attempt met. The
probe only reads that state. A probe stuck longer than ``stale_after_s`` counts as failing.

Each check is *required* (down: the service is not ready, e.g. its database) or not (down:
the service is ready but *degraded*, e.g. Kafka while the outbox holds the events).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from citela_common.logging import get_logger

if TYPE_CHECKING:
    from citela_common.bus.base import Consumer
    from citela_common.outbox import OutboxRelay

log = get_logger(__name__)

OK = "ok"
FAILING = "failing"
UNKNOWN = "unknown"

READY = "ready"
DEGRADED = "degraded"
NOT_READY = "not-ready"

# user:password@ in a URL (a driver's message may quote its DSN): the password never shows.
_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s:]*(:[^/@\s]*)?@")
_PASSWORD_PARAM = re.compile(r"(password|passwd|pwd)\s*=\s*\S+", re.IGNORECASE)


def redact(text: str, limit: int = 300) -> str:
    """An error message fit for a public body: no credentials, bounded length."""
    text = _CREDENTIALS.sub(r"\g<scheme>***@", text)
    text = _PASSWORD_PARAM.sub(r"\1=***", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass
class CheckState:
    """What a check last found: ``state`` since ``since`` (wall clock), its last error."""

    state: str = UNKNOWN
    since: float | None = None
    last_error: str | None = None
    checked_at: float | None = None  # monotonic, when the last probe ended
    running_since: float | None = None  # monotonic, while a probe is in flight

    def record(self, ok: bool, error: str | None = None) -> None:
        state = OK if ok else FAILING
        if state != self.state:
            self.state = state
            self.since = time.time()
        if error is not None:
            self.last_error = error
        self.checked_at = time.monotonic()


class Check:
    """One line of the readiness report."""

    name: str
    required: bool

    def start(self) -> None:
        """Start whatever keeps the state current (a probe thread); idempotent."""

    def stop(self) -> None:
        """Stop it."""

    def report(self) -> dict[str, Any]:
        """``{"state": ok|failing|unknown, ...}``, from memory only."""
        raise NotImplementedError


class Probe(Check):
    """A dependency probed on a thread of its own: ``probe()`` raises (or returns False)
    when the dependency does not answer; it must bound its own time (client timeouts)."""

    def __init__(
        self,
        name: str,
        probe: Callable[[], object],
        *,
        required: bool,
        interval_s: float = 1.0,
        stale_after_s: float = 3.0,
    ) -> None:
        self.name = name
        self.required = required
        self._probe = probe
        self.interval_s = interval_s
        self.stale_after_s = stale_after_s
        self.state = CheckState()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.probed = threading.Event()  # set once a first answer is known

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"readiness-{self.name}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def probe_once(self) -> None:
        self.state.running_since = time.monotonic()
        try:
            ok = self._probe() is not False
            error = None if ok else "the dependency said no"
        except Exception as exc:  # a probe failing is what it tells, never a crash
            ok, error = False, redact(f"{type(exc).__name__}: {exc}")
        finally:
            self.state.running_since = None
        if not ok and self.state.state != FAILING:
            log.warning("readiness.check_failing", check=self.name, error=error)
        elif ok and self.state.state == FAILING:
            log.info("readiness.check_recovered", check=self.name)
        self.state.record(ok, error)
        self.probed.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.probe_once()
            self._stop.wait(max(0.05, self.interval_s - (time.monotonic() - started)))

    def report(self) -> dict[str, Any]:
        s = self.state
        now = time.monotonic()
        state, error = s.state, s.last_error
        if s.running_since is not None and now - s.running_since > self.stale_after_s:
            state = FAILING
            error = f"no answer for {now - s.running_since:.1f} s"
        return {
            "state": state,
            "since": _iso(s.since),
            "checked_s_ago": None if s.checked_at is None else round(now - s.checked_at, 3),
            "last_error": error,
        }


class Reported(Check):
    """A check whose state a running part of the process keeps (the relay, consumers):
    ``read()`` returns its report from memory."""

    def __init__(self, name: str, read: Callable[[], dict[str, Any]], *, required: bool) -> None:
        self.name = name
        self.required = required
        self._read = read

    def report(self) -> dict[str, Any]:
        return self._read()


@dataclass
class Readiness:
    """The checks of one service (or, combined, of the embedded platform)."""

    checks: list[Check] = field(default_factory=list)
    parts: dict[str, Readiness] = field(default_factory=dict)

    def add(self, check: Check) -> Check:
        self.checks = [c for c in self.checks if c.name != check.name] + [check]
        return check

    @classmethod
    def of_callables(cls, checks: Mapping[str, Callable[[], object]]) -> Readiness:
        """Plain callables as required probes (each run on its probe thread)."""
        return cls([Probe(name, fn, required=True) for name, fn in checks.items()])

    @classmethod
    def combine(cls, parts: Mapping[str, Readiness]) -> Readiness:
        """The readiness of several services in one process: ready when each one is."""
        return cls(parts=dict(parts))

    def _all(self) -> Iterable[Check]:
        yield from self.checks
        for part in self.parts.values():
            yield from part._all()

    def start(self) -> None:
        for check in self._all():
            check.start()

    def stop(self) -> None:
        for check in self._all():
            check.stop()

    def known(self) -> bool:
        """Every probe has answered at least once."""
        return all(c.probed.is_set() for c in self._all() if isinstance(c, Probe))

    def verdict(self) -> tuple[str, dict[str, Any]]:
        """(ready | degraded | not-ready, the checks' reports by name)."""
        reports: dict[str, Any] = {}
        status = READY
        for check in self.checks:
            report = {**check.report(), "required": check.required}
            reports[check.name] = report
            if report["state"] != OK:
                if check.required:
                    status = NOT_READY
                elif status == READY:
                    status = DEGRADED
        for name, part in self.parts.items():
            part_status, part_reports = part.verdict()
            for check_name, report in part_reports.items():
                reports[f"{name}.{check_name}"] = report
            if part_status == NOT_READY or (part_status == DEGRADED and status == READY):
                status = part_status
        return status, reports


def redis_check(ping: Callable[[], object]) -> Probe:
    """Redis, behind the cache, the rate limits or Celery. Not required by any service's API:
    the cache and the rate limiter fail open (see cache.py, feedback's ratelimit.py) and a
    task that cannot be queued fails its own request (503); reported, the service degraded."""
    return Probe("redis", ping, required=False)


def outbox_check(relay: OutboxRelay) -> Reported:
    """The relay's last pass (never required: while the bus is down the outbox holds the
    events, and the backlog says how many wait)."""

    def read() -> dict[str, Any]:
        count, oldest = relay.backlog_seen
        age = 0.0 if oldest is None else max(0.0, time.time() - oldest.timestamp())
        failing = relay.failing_since is not None
        return {
            "state": FAILING if failing else OK,
            "since": _iso(relay.failing_since if failing else relay.last_ok_at),
            "last_error": redact(relay.last_error) if relay.last_error else None,
            "backlog": count,
            "oldest_age_s": round(age, 1),
        }

    return Reported("outbox", read, required=False)


def consumers_check(consumers: Callable[[], Sequence[Consumer]]) -> Reported:
    """The consumer groups of the process, paused (a dependency down, their batch retried)
    or not (never required: the API does not wait for them)."""

    def read() -> dict[str, Any]:
        paused = sorted(c.group for c in consumers() if getattr(c, "paused", False) is True)
        return {
            "state": FAILING if paused else OK,
            "groups": sorted(c.group for c in consumers()),
            "paused": paused,
        }

    return Reported("consumers", read, required=False)
