"""What the adversarial tests share: the load generator and fake downstream of
tests/loadgen (run as processes of their own), and readings of a running service: its RSS,
its goroutines, the spans it exports."""

from __future__ import annotations

import gzip
import json
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gosvc.service import LOOPBACK, request


@dataclass(frozen=True)
class LoadReport:
    """What `loadgen load` printed: counts per status, errors by kind, latencies in ms."""

    raw: dict[str, Any]

    @property
    def sent(self) -> int:
        return int(self.raw["sent"])

    @property
    def statuses(self) -> dict[int, int]:
        return {int(status): int(n) for status, n in self.raw["statuses"].items()}

    @property
    def errors(self) -> dict[str, int]:
        return dict(self.raw["errors"])

    def latency(self, status: int) -> dict[str, float]:
        return dict(self.raw["latency_ms"].get(str(status), {}))

    def p99(self, status: int) -> float:
        return float(self.latency(status).get("p99", 0.0))

    def summary(self) -> str:
        """One line: requests, rate, statuses, errors, and p50/p99/max per status."""
        rate = self.sent / self.raw["seconds"] if self.raw["seconds"] else 0.0
        parts = [f"{self.sent} requests in {self.raw['seconds']:.1f}s ({rate:.0f}/s)"]
        parts.append("statuses " + ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items())))
        parts.append(f"errors {self.errors or 0}")
        for status in sorted(self.statuses):
            lat = self.latency(status)
            parts.append(
                f"{status} p50/p99/max {lat['p50']:.1f}/{lat['p99']:.1f}/{lat['max']:.1f} ms"
            )
        return "; ".join(parts)


def load_args(url: str, **flags: object) -> list[str]:
    """`loadgen load` arguments: flags by name, e.g. rate=200, duration="3s"."""
    args = ["load", "-url", url]
    for name, value in flags.items():
        args += [f"-{name}", str(value)]
    return args


def run_load(loadgen: Path, url: str, timeout: float = 120, **flags: object) -> LoadReport:
    """Run `loadgen load` to the end and return its report."""
    result = subprocess.run(
        [str(loadgen), *load_args(url, **flags)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return LoadReport(json.loads(result.stdout))


class BackgroundLoad:
    """`loadgen load` running beside the test, in a process of its own."""

    def __init__(self, loadgen: Path, url: str, **flags: object) -> None:
        self.process = subprocess.Popen(
            [str(loadgen), *load_args(url, **flags)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def report(self, timeout: float = 120) -> LoadReport:
        stdout, stderr = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, stderr
        return LoadReport(json.loads(stdout))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=10)


class FakeDownstream:
    """`loadgen downstream`: the downstream contract with a known capacity (delay per
    request, `concurrency` served at once) that stops answering after `hang_after`."""

    def __init__(self, loadgen: Path, **flags: object) -> None:
        args = [str(loadgen), "downstream", "-addr", f"{LOOPBACK}:0"]
        for name, value in flags.items():
            args += [f"-{name.replace('_', '-')}", str(value)]
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        line = self.process.stdout.readline()
        assert line.startswith("listening "), line + self.process.stderr.read()
        self.address = line.split()[1]

    def collection(self, plural: str) -> str:
        return f"http://{self.address}/v1/{plural}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=10)


def rss_mib(pid: int) -> float:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def goroutines(admin_port: int) -> int:
    """The service's goroutine count, from pprof on the admin listener (PPROF_ENABLED)."""
    profile = request(admin_port, "GET", "/debug/pprof/goroutine?debug=1")
    assert profile.status == 200, profile.body
    first = profile.body.split(b"\n", 1)[0].decode()  # "goroutine profile: total N"
    return int(first.rsplit(" ", 1)[1])


# ------------------------------------------------------------------ an OTLP/HTTP receiver


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, bytes | int]]:
    """The top-level fields of a protobuf message: (number, bytes or int)."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, value
        elif wire == 2:
            size, at = _varint(data, at)
            yield number, data[at : at + size]
            at += size
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        else:
            raise ValueError(f"protobuf wire type {wire} is not used by OTLP")


SPAN_KIND_SERVER = 2  # opentelemetry.proto.trace.v1.Span.SpanKind


def spans_in(export_request: bytes) -> list[tuple[int, str]]:
    """(kind, name) of each span in an OTLP ExportTraceServiceRequest: resource_spans (1)
    -> scope_spans (2) -> spans (2) -> name (5), kind (6)."""
    found = []
    for number, resource_spans in _fields(export_request):
        if number != 1 or not isinstance(resource_spans, bytes):
            continue
        for number, scope_spans in _fields(resource_spans):
            if number != 2 or not isinstance(scope_spans, bytes):
                continue
            for number, span in _fields(scope_spans):
                if number == 2 and isinstance(span, bytes):
                    fields = dict(_fields(span))
                    name, kind = fields.get(5, b""), fields.get(6, 0)
                    assert isinstance(name, bytes) and isinstance(kind, int)
                    found.append((kind, name.decode()))
    return found


class ReceivedSpans:
    """Spans an OTLP receiver has been sent, counted by kind and name."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[tuple[int, str]] = Counter()

    def add(self, spans: list[tuple[int, str]]) -> None:
        with self.lock:
            self.counts.update(spans)

    def server(self) -> dict[str, int]:
        """Server spans by name."""
        with self.lock:
            return {name: n for (kind, name), n in self.counts.items() if kind == SPAN_KIND_SERVER}


class _Receiver(BaseHTTPRequestHandler):
    received: ReceivedSpans

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path == "/v1/traces":
            self.received.add(spans_in(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, ReceivedSpans]]:
    """An OTLP/HTTP endpoint on loopback: yields its base URL and the spans it receives
    (filled as exports arrive)."""
    spans = ReceivedSpans()
    handler = type("Receiver", (_Receiver,), {"received": spans})
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}", spans
    finally:
        server.shutdown()
        server.server_close()
