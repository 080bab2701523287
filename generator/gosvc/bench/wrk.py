"""Drive one HTTP server with wrk and read its figures.

wrk (Debian's `wrk` package) runs closed-loop: each connection sends its next request
when the previous answer arrived, which finds a server's maximum throughput. For the
latency at a fixed, lower load, each connection also waits a fixed delay between requests
(wrk's `delay()` hook), which offers roughly `connections / delay` requests per second.

A Lua `done()` hook prints the summary as one JSON line, so nothing depends on the layout
of wrk's own report.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from gosvc.errors import GosvcError, ToolMissingError

_SUMMARY_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"socket_errors":%d,"status_errors":%d,'
    .. '"timeouts":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""
_SUMMARY_PREFIX = '{"requests":'


@dataclass(frozen=True)
class Load:
    """How hard to push: wrk's threads, connections and duration, and a per-connection
    pause between requests (0: as fast as the server answers)."""

    threads: int
    connections: int
    seconds: int  # wrk takes whole seconds
    delay_ms: int = 0


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # socket errors, timeouts and non-2xx/3xx answers, not in requests_per_second

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise ToolMissingError("wrk not found on PATH; install it (Debian: apt-get install wrk)")
    return found


def version() -> str:
    # wrk -v prints its version line and exits 1.
    result = subprocess.run([wrk(), "-v"], capture_output=True, text=True, check=False)
    # "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer"
    first = (result.stdout + result.stderr).strip().splitlines()[0]
    return first.split(" [", 1)[0]


def script(scratch: Path, delay_ms: int) -> Path:
    path = scratch / f"wrk-delay-{delay_ms}.lua"
    if not path.exists():
        delay = f"delay = function() return {delay_ms} end\n" if delay_ms else ""
        path.write_text(delay + _SUMMARY_SCRIPT, encoding="utf-8")
    return path


def run(url: str, load: Load, scratch: Path) -> Result:
    """One wrk run against url; fails when wrk fails or any answer was an error."""
    argv = [
        wrk(),
        f"-t{load.threads}",
        f"-c{max(load.connections, load.threads)}",
        f"-d{load.seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(script(scratch, load.delay_ms)),
        url,
    ]
    completed = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith(_SUMMARY_PREFIX)]
    if completed.returncode != 0 or not lines:
        output = (completed.stdout + completed.stderr).strip()
        raise GosvcError(f"wrk failed on {url}: {output[-1000:]}")
    figures = json.loads(lines[-1])
    seconds = figures["duration_us"] / 1e6
    errors = figures["socket_errors"] + figures["status_errors"] + figures["timeouts"]
    # Only successful answers count: a server shedding load answers 503s quickly.
    answered = figures["requests"] - figures["status_errors"]
    return Result(
        requests=figures["requests"],
        seconds=seconds,
        requests_per_second=answered / seconds if seconds else 0.0,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        errors=errors,
    )
