"""HTTP load with wrk (the Debian package; ``deploy/infra.sh install`` installs it).

A benchmark hands ``run`` the Lua of its requests (an ``on_init(args)`` and a ``request()``
function); this module adds the harness: thread numbers (``thread_id``, for unique keys), a
count of 2xx responses, an optional pace, and a ``done`` that prints the figures as one JSON
line, parsed here. wrk is closed-loop: each connection sends its next request when the
previous answer came (after the pace, if any).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

MARK = "WRKJSON "

_HARNESS = """
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

function init(args)
  ok_count = 0
  if on_init then on_init(args) end
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok_count = ok_count + 1 end
end

function done(summary, latency, requests)
  local ok = 0
  for _, t in ipairs(threads) do ok = ok + t:get("ok_count") end
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"ok":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\\n',
    "__MARK__", summary.requests, ok, summary.duration, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""

_PACE = """
function delay()
  return __PACE__
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int  # responses received
    ok: int  # of which 2xx
    seconds: float
    socket_errors: int  # connect, read, write errors and timeouts
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    @property
    def rate(self) -> float:
        """2xx responses per second."""
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        """Answers that were not 2xx, plus socket errors and timeouts."""
        return self.requests - self.ok + self.socket_errors

    def summary(self) -> str:
        return (
            f"{self.rate:>9,.0f} req/s  p50 {self.p50_ms:6.1f} ms  p90 {self.p90_ms:6.1f} ms  "
            f"p99 {self.p99_ms:6.1f} ms  max {self.max_ms:7.1f} ms  "
            f"{self.ok} ok, {self.errors} errors"
        )


def executable() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is missing: run `deploy/infra.sh install` (apt-get install wrk)")
    return path


def run(
    url: str,
    lua: str,
    *,
    seconds: float,
    connections: int,
    threads: int = 2,
    args: tuple[str, ...] = (),
    pace_ms: int = 0,
    timeout_s: int = 10,
) -> WrkResult:
    """Load ``url`` for ``seconds`` with ``connections`` (``pace_ms``: each connection waits
    that long between an answer and its next request)."""
    script = lua + _HARNESS.replace("__MARK__", MARK)
    if pace_ms > 0:
        script += _PACE.replace("__PACE__", str(int(pace_ms)))
    with tempfile.TemporaryDirectory(prefix="citela-wrk-") as tmp:
        path = Path(tmp) / "load.lua"
        path.write_text(script, encoding="utf-8")
        command = [
            executable(),
            f"-t{max(1, min(threads, connections))}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s}s",
            "-s",
            str(path),
            url,
            "--",
            *args,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            f = json.loads(line[len(MARK) :])
            return WrkResult(
                requests=int(f["requests"]),
                ok=int(f["ok"]),
                seconds=f["duration_us"] / 1e6,
                socket_errors=int(f["connect"] + f["read"] + f["write"] + f["timeout"]),
                p50_ms=f["p50_us"] / 1000,
                p90_ms=f["p90_us"] / 1000,
                p99_ms=f["p99_us"] / 1000,
                max_ms=f["max_us"] / 1000,
                mean_ms=f["mean_us"] / 1000,
            )
    raise RuntimeError(f"wrk gave no figures (exit {done.returncode}): {done.stdout}{done.stderr}")
