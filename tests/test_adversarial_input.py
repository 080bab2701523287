"""Layer adversarial, hostile clients and input: the built default service against
Slowloris, bodies ten times the limit, a family of malformed JSON, a handler that panics
(in a test-only build), and the generated project's own fuzz targets run for a bounded
time. Each test reports its figures."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from adversarial_support import rss_mib
from gosvc.service import LOOPBACK, Response, Service, request
from support import DEFAULTS, BuildSet, Built, CopySet, Figure, Launch, Project, run_tool

pytestmark = pytest.mark.adversarial


@pytest.fixture(scope="module")
def built(built_set: BuildSet) -> Built:
    return built_set(DEFAULTS)


@pytest.fixture
def start(start: Launch, built: Built, tmp_path: Path) -> Launch:
    """conftest's `start` for a binary (the shared build unless given) with extra
    environment, seeded with sku-1 (10 on hand)."""
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps([{"id": "sku-1", "quantity": 10}]), encoding="utf-8")

    def launch(binary: Path | None = None, **env: str) -> Service:
        return start("service", binary=binary, **{built.seed_variable: str(seed), **env})

    return launch


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status == status, response.body
    assert response.content_type == "application/problem+json", response.headers
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status and problem["code"], problem
    return problem


def ms(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# ------------------------------------------------------------------ Slowloris


class Trickler:
    """Connections that each send a request line and then one header byte every
    `interval`, never finishing the headers; records when the server closes each."""

    def __init__(self, port: int, count: int, interval: float) -> None:
        self.interval = interval
        self.opened = time.monotonic()
        self.socks = []
        for _ in range(count):
            sock = socket.create_connection((LOOPBACK, port), timeout=5)
            sock.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            sock.setblocking(False)
            self.socks.append(sock)
        self.closed_after: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set() and len(self.closed_after) < len(self.socks):
            for i, sock in enumerate(self.socks):
                if i in self.closed_after:
                    continue
                try:
                    if sock.recv(1024) == b"":
                        self.closed_after[i] = time.monotonic() - self.opened
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed_after[i] = time.monotonic() - self.opened
                    continue
                try:
                    sock.send(b"a")
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed_after[i] = time.monotonic() - self.opened
            self.stop.wait(self.interval)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.socks:
            sock.close()


def test_slowloris_neither_starves_normal_requests_nor_outlives_the_header_timeout(
    built: Built, start: Launch, figure: Figure
) -> None:
    header_timeout = 2.0
    service = start(HTTP_READ_HEADER_TIMEOUT=f"{header_timeout:.0f}s", HTTP_READ_TIMEOUT="3s")
    slow = Trickler(service.http_port, count=200, interval=0.2)
    latencies = []
    try:
        # Normal clients while the 200 trickle: each request on a fresh connection.
        while time.monotonic() - slow.opened < header_timeout + 1:
            began = time.monotonic()
            response = request(service.http_port, "GET", f"{built.collection}/sku-1", timeout=5)
            latencies.append(time.monotonic() - began)
            assert response.status == 200, response.body
            time.sleep(0.02)
        deadline = time.monotonic() + header_timeout + 5
        while len(slow.closed_after) < len(slow.socks) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        slow.close()
    closed = sorted(slow.closed_after.values())
    figure(
        f"200 trickling connections; {len(latencies)} normal requests meanwhile, "
        f"p50/p99/max {ms(latencies, 0.5):.1f}/{ms(latencies, 0.99):.1f}/"
        f"{max(latencies) * 1000:.1f} ms"
    )
    if closed:
        figure(
            f"slow connections closed by the server: {len(closed)} of 200, after "
            f"{closed[0]:.2f}s to {closed[-1]:.2f}s (HTTP_READ_HEADER_TIMEOUT {header_timeout}s)"
        )
    assert len(closed) == 200, f"only {len(closed)} of 200 slow connections were closed"
    assert closed[0] >= header_timeout - 0.2, closed[0]
    assert closed[-1] < header_timeout + 3, closed[-1]
    assert ms(latencies, 0.99) < 1000, latencies
    assert service.status("/readyz") == 200


# ------------------------------------------------------------------ oversized bodies


def post_oversized(port: int, path: str, size: int, chunked: bool) -> Response:
    """POST `size` bytes of JSON-ish body, declared or chunked, reading the answer while
    sending: the server answers before it has read the body, then closes."""
    sock = socket.create_connection((LOOPBACK, port), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {size}\r\n\r\n"
    # One JSON object with a string that goes on and on: valid as far as it is read.
    prefix, block = b'{"id":"big","note":"', b"x" * (64 * 1024)

    def send() -> None:
        try:
            sock.sendall(head.encode())
            sent = 0
            while sent < size:
                data = (prefix + block if sent == 0 else block)[: size - sent]
                sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data)
                sent += len(data)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server stopped reading and closed: expected

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        headers = {name.lower(): value for name, value in reply.getheaders()}
        return Response(status=reply.status, headers=headers, body=reply.read())
    finally:
        sock.close()
        sender.join(timeout=10)


def test_bodies_ten_times_the_limit_are_413_and_memory_stays_flat(
    built: Built, start: Launch, figure: Figure
) -> None:
    limit = 1 << 20  # the default HTTP_MAX_BODY_BYTES
    service = start()
    path = built.collection
    assert_problem(post_oversized(service.http_port, path, 10 * limit, chunked=True), 413)
    before = rss_mib(service.process.pid)
    answers: Counter[int] = Counter()
    lock = threading.Lock()

    def attack(chunked: bool) -> None:
        for _ in range(5):
            response = post_oversized(service.http_port, path, 10 * limit, chunked)
            assert_problem(response, 413)
            with lock:
                answers[response.status] += 1

    began = time.monotonic()
    attackers = [threading.Thread(target=attack, args=(i % 2 == 0,)) for i in range(4)]
    for attacker in attackers:
        attacker.start()
    for attacker in attackers:
        attacker.join()
    took = time.monotonic() - began
    after = rss_mib(service.process.pid)
    figure(
        f"{sum(answers.values())} bodies of 10 MiB (limit 1 MiB), half declared, half "
        f"chunked, 4 at a time, in {took:.1f}s: {dict(answers)}; RSS {before:.1f} -> "
        f"{after:.1f} MiB"
    )
    assert answers == {413: 20}
    # Buffering the bodies would take 40 MiB at once; reading up to the limit, a few.
    assert after - before < 16, (before, after)
    assert service.request("GET", f"{path}/sku-1").status == 200


# ------------------------------------------------------------------ malformed JSON

MALFORMED = {
    "truncated": b'{"id":"bad-1","quantity":',
    "trailing data": b'{"id":"bad-1","quantity":1} {}',
    "unknown field": b'{"id":"bad-1","quantity":1,"colour":"red"}',
    "quantity as string": b'{"id":"bad-1","quantity":"1"}',
    "id as number": b'{"id":1,"quantity":1}',
    "fraction": b'{"id":"bad-1","quantity":1.5}',
    "huge integer": b'{"id":"bad-1","quantity":123456789012345678901234567890}',
    "huge exponent": b'{"id":"bad-1","quantity":1e999}',
    "negative": b'{"id":"bad-1","quantity":-5}',
    "missing quantity": b'{"id":"bad-1"}',
    "null": b"null",
    "array": b'[{"id":"bad-1","quantity":1}]',
    "string": b'"bad-1"',
    "empty": b"",
    "deep nesting": b'{"id":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "deep objects": b'{"id":"bad-1","quantity":1,"x":' + b'{"a":' * 20_000 + b"1" + b"}" * 20_001,
    "invalid UTF-8 in a string": b'{"id":"\xff\xfe","quantity":1}',
    "invalid UTF-8 outside": b'{\xc0\xaf"id":"bad-1","quantity":1}',
    "byte order mark": b'\xef\xbb\xbf{"id":"bad-1","quantity":1}',
    "NUL in the id": b'{"id":"bad\\u00001","quantity":1}',
    "lone surrogate": b'{"id":"\\ud800","quantity":1}',
    "id too long": b'{"id":"' + b"a" * 10_000 + b'","quantity":1}',
    "control character": b'{"id":"bad\x011","quantity":1}',
}


def test_malformed_json_is_always_a_400_problem_never_a_500(
    built: Built, start: Launch, figure: Figure
) -> None:
    service = start()
    statuses: Counter[int] = Counter()
    wrong = []
    targets = (built.collection, f"{built.collection}/sku-1/reservations")
    for name, body in MALFORMED.items():
        for target in targets:
            response = request(service.http_port, "POST", target, body)
            statuses[response.status] += 1
            is_problem = response.content_type == "application/problem+json"
            if response.status != 400 or not is_problem:
                wrong.append((name, target, response.status, response.body[:200]))
    figure(f"{len(MALFORMED)} malformed bodies x {len(targets)} commands: {dict(statuses)}")
    assert wrong == []
    # Still serving, and nothing was changed by the refused commands.
    fetched = service.request("GET", f"{built.collection}/sku-1")
    assert fetched.status == 200 and fetched.json()["reserved"] == 0, fetched.body
    assert service.request("GET", f"{built.collection}/bad-1").status == 404


# ------------------------------------------------------------------ a handler panic

# A fault injected into a copy of the project for this test only, through the composition
# root's own seam (contextWiring): the generated service ships no route that panics.
PANIC_ROUTE = """package main

import (
	"net/http"

	"{module}/internal/{context}/application"
)

// Injected by the template's adversarial test; never part of a generated project.
func init() {{
	contextWiring = append(contextWiring, func(m *Main, _ *application.Service) {{
		m.router.Handle("GET /adversarial/panic", http.HandlerFunc(panics))
	}})
}}

func panics(http.ResponseWriter, *http.Request) {{
	panic("injected panic")
}}
"""


@pytest.fixture(scope="module")
def panicking_binary(project_copy: CopySet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = project_copy(DEFAULTS, tmp_path_factory.mktemp("panic") / "project")
    source = PANIC_ROUTE.format(
        module=project.values["module_path"], context=project.values["context_name"]
    )
    cmd = project.path / "cmd" / project.service_name
    (cmd / "adversarial_panic.go").write_text(source, encoding="utf-8")
    binary = project.path / "bin" / "panicking"
    result = run_tool(
        ["go", "build", "-o", str(binary), f"./cmd/{project.service_name}"],
        cwd=project.path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return binary


def test_a_handler_panic_is_a_logged_500_and_the_process_serves_on(
    built: Built, start: Launch, panicking_binary: Path, figure: Figure
) -> None:
    service = start(binary=panicking_binary)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    statuses = []
    for _ in range(20):
        response = request(
            service.http_port, "GET", "/adversarial/panic", headers={"traceparent": traceparent}
        )
        assert_problem(response, 500)
        statuses.append(response.status)
        # The next request, on another connection, is served as if nothing happened.
        assert service.request("GET", f"{built.collection}/sku-1").status == 200
    assert service.process.poll() is None
    logged = [
        line
        for line in (json.loads(text) for text in service.stdout().splitlines() if text[:1] == "{")
        if line.get("msg") == "handler panicked"
    ]
    figure(
        f"20 panics: {Counter(statuses)}; {len(logged)} logged with a stack and trace id "
        f"{logged[0].get('trace_id') if logged else None}; still serving"
    )
    assert len(logged) == 20
    assert all("injected panic" in line["panic"] for line in logged), logged[0]
    assert all("adversarial_panic.go" in line["stack"] for line in logged), logged[0]["stack"]
    assert logged[0]["pattern"] == "GET /adversarial/panic"
    # Under the caller's trace (the span the tracing middleware continued from traceparent).
    assert all(line.get("trace_id") == trace_id for line in logged), logged[0]


# ------------------------------------------------------------------ fuzzing

FUZZ_TARGETS = {"FuzzDecodeJSON", "FuzzRequestBodies", "FuzzParseID", "FuzzReserve"}


def test_fuzz_targets_hold_for_a_bounded_time(fresh_project: Project, figure: Figure) -> None:
    """The generated project's `make fuzz`, 10,000 inputs per target (a count, as its
    default is: see FUZZTIME in its Makefile), from its committed corpus."""
    corpora = {path.parent.name for path in fresh_project.path.rglob("testdata/fuzz/*/*")}
    assert corpora == FUZZ_TARGETS, corpora
    result = run_tool(["make", "fuzz", "FUZZTIME=10000x"], cwd=fresh_project.path, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    sections = result.stdout.split("==> ")[1:]
    ran = {section.split()[0]: section for section in sections}
    assert set(ran) == FUZZ_TARGETS, result.stdout
    for target, output in sorted(ran.items()):
        execs = max(int(n) for n in re.findall(r"execs: (\d+)", output))
        corpus = list(fresh_project.path.rglob(f"testdata/fuzz/{target}/*"))
        seconds = max(int(n) for n in re.findall(r"elapsed: (\d+)s", output))
        figure(
            f"{target}: {execs} inputs in {seconds} s, from {len(corpus)} committed corpus entries"
        )
        assert execs >= 10000, output
