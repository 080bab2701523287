"""Layer 3, run: build the default service with its own Makefile, start the binary on free
loopback ports and hold it to the runtime contract: start-up probes, the example API, a
graceful SIGTERM with requests in flight, and one-line errors for bad configuration."""

from __future__ import annotations

import errno
import http.client
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gosvc.service import LOOPBACK, Response, Service, request, wait_for
from support import DEFAULTS, BuildSet, Built, Launch, run_tool

pytestmark = pytest.mark.run

# The service's runtime contract (its README table); the config package must read each.
CONTRACT_VARIABLES = {
    "HTTP_ADDR",
    "ADMIN_ADDR",
    "SHUTDOWN_TIMEOUT",
    "DRAIN_DELAY",
    "LOG_LEVEL",
    "HTTP_READ_HEADER_TIMEOUT",
    "HTTP_READ_TIMEOUT",
    "HTTP_WRITE_TIMEOUT",
    "HTTP_IDLE_TIMEOUT",
    "HTTP_MAX_HEADER_BYTES",
    "HTTP_MAX_BODY_BYTES",
    "HTTP_REQUEST_TIMEOUT",
    "PPROF_ENABLED",
    "OVERLOAD_ENABLED",
    "OVERLOAD_MAX_WAIT",
    # <CONTEXT>_SEED_FILE since template 0.2.0 (SEED_FILE before); the default context.
    "INVENTORY_SEED_FILE",
}
MAX_BODY_BYTES = 4096


@pytest.fixture(scope="module")
def built(built_set: BuildSet) -> Built:
    """The default answers built with the project's `make build` (the run's shared build:
    the delivery tests start the same binary)."""
    return built_set(DEFAULTS)


@pytest.fixture
def start(built: Built, tmp_path: Path) -> Iterator[Launch]:
    """Start the built service with extra environment; every one started is stopped."""
    started: list[Service] = []

    def launch(**env: str) -> Service:
        service = Service(built.binary, log_dir=tmp_path, env=env)
        started.append(service)
        return service

    yield launch
    for service in started:
        service.stop()


def assert_problem(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status == status, response.body
    assert response.content_type.startswith("application/problem+json"), response.headers
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["title"]
    if code is not None:
        assert problem["code"] == code, problem
        # RFC 9457: an absent type means "about:blank", a problem with no more semantics
        # than its status; a domain error still says what went wrong in detail.
        assert problem.get("type", "about:blank"), problem
        assert problem.get("detail"), problem
    return problem


def write_to_fifo(path: Path, data: bytes, timeout: float) -> None:
    """Write once the service has opened the FIFO for reading (until then, ENXIO)."""

    def open_writer() -> int | None:
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno == errno.ENXIO:
                return None
            raise

    fd = wait_for(open_writer, timeout=timeout, what=f"a reader on {path}")
    try:
        os.set_blocking(fd, True)
        os.write(fd, data)
    finally:
        os.close(fd)


def test_start_up_waits_for_seed_then_serves_the_example_api(
    built: Built, start: Launch, tmp_path: Path
) -> None:
    fifo = tmp_path / "seed.fifo"
    os.mkfifo(fifo)
    service = start(
        INVENTORY_SEED_FILE=str(fifo), HTTP_MAX_BODY_BYTES=str(MAX_BODY_BYTES), DRAIN_DELAY="1s"
    )

    # Listening, but the seed (a FIFO nobody has written yet) holds start-up back.
    service.wait_for_status("/startupz", 503)
    assert service.status("/readyz") == 503
    assert service.status("/livez") == 200

    seed = [{"id": "seeded-1", "quantity": 5}]
    write_to_fifo(fifo, json.dumps(seed).encode(), timeout=10)
    service.wait_for_status("/startupz", 200)
    service.wait_for_status("/readyz", 200)

    items = built.collection
    # No downstream is configured: a GET says so in every answer (see test_run_downstream.py).
    unconfigured = {"downstream": {"service": "pricing", "available": None}, "degraded": True}
    seeded = service.request("GET", f"{items}/seeded-1")
    assert seeded.status == 200
    assert seeded.headers["degraded"] == "pricing"
    assert seeded.json() == {
        "id": "seeded-1",
        "on_hand": 5,
        "reserved": 0,
        "available": 5,
        **unconfigured,
    }

    created = service.request("POST", items, json.dumps({"id": "sku-1", "quantity": 10}))
    assert created.status == 201, created.body
    assert created.headers["location"] == f"{items}/sku-1"
    fresh = {"id": "sku-1", "on_hand": 10, "reserved": 0, "available": 10}
    assert created.json() == fresh

    fetched = service.request("GET", f"{items}/sku-1")
    assert fetched.status == 200
    assert fetched.json() == {**fresh, **unconfigured}

    reserved = service.request("POST", f"{items}/sku-1/reservations", '{"quantity": 3}')
    assert reserved.status == 200, reserved.body
    assert reserved.json() == {"id": "sku-1", "on_hand": 10, "reserved": 3, "available": 7}

    over = service.request("POST", f"{items}/sku-1/reservations", '{"quantity": 8}')
    assert_problem(over, 409, "insufficient_quantity")
    duplicate = service.request("POST", items, '{"id": "sku-1", "quantity": 1}')
    assert_problem(duplicate, 409, "already_exists")
    assert_problem(service.request("POST", items, '{"id": "sku-2", "quantity": -1}'), 400)
    zero = service.request("POST", f"{items}/sku-1/reservations", '{"quantity": 0}')
    assert_problem(zero, 400)
    unknown_field = '{"id": "sku-3", "quantity": 1, "colour": "red"}'
    assert_problem(service.request("POST", items, unknown_field), 400)
    assert_problem(service.request("POST", items, '{"id": "sku-4",'), 400)
    oversize = json.dumps({"id": "sku-5", "quantity": 1, "note": "x" * (2 * MAX_BODY_BYTES)})
    assert_problem(service.request("POST", items, oversize), 413)
    assert_problem(service.request("GET", f"{items}/sku-404"), 404, "not_found")

    # The rejected requests changed nothing.
    assert service.request("GET", f"{items}/sku-1").json()["reserved"] == 3

    service.terminate()
    assert service.wait() == 0, service.stderr()


class SlowRequest:
    """A request whose body trickles in over a raw socket: in flight until `finish`."""

    def __init__(self, port: int, method: str, path: str, body: str) -> None:
        self.body = body.encode()
        self.half = len(self.body) // 2
        self.sock = socket.create_connection((LOOPBACK, port), timeout=15)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
        )
        self.sock.sendall(head.encode() + self.body[: self.half])

    def finish(self) -> Response:
        self.sock.sendall(self.body[self.half :])
        reply = http.client.HTTPResponse(self.sock)
        try:
            reply.begin()
            headers = {name.lower(): value for name, value in reply.getheaders()}
            return Response(status=reply.status, headers=headers, body=reply.read())
        finally:
            reply.close()
            self.sock.close()


def test_sigterm_drains_then_completes_requests_in_flight(built: Built, start: Launch) -> None:
    service = start(DRAIN_DELAY="1s", SHUTDOWN_TIMEOUT="10s")
    service.wait_for_status("/readyz", 200)
    items = built.collection
    assert service.request("POST", items, '{"id": "drain-1", "quantity": 10}').status == 201

    creating = SlowRequest(service.http_port, "POST", items, '{"id": "drain-2", "quantity": 4}')
    reserving = SlowRequest(
        service.http_port, "POST", f"{items}/drain-1/reservations", '{"quantity": 2}'
    )
    time.sleep(0.3)  # let the server read both requests' headers

    service.terminate()
    # Draining: readiness fails while the listener still accepts and other routes serve.
    service.wait_for_status("/readyz", 503, timeout=5)
    assert service.status("/livez") == 200

    # After the drain delay Shutdown closes the listener, then waits for both requests.
    def listener_closed() -> bool | None:
        try:
            socket.create_connection((LOOPBACK, service.http_port), timeout=2).close()
        except ConnectionRefusedError:
            return True
        return None

    wait_for(listener_closed, timeout=10, what="Shutdown to close the listener")
    assert service.process.poll() is None, "exited with requests still in flight"

    created = creating.finish()
    assert created.status == 201, created.body
    assert json.loads(created.body)["on_hand"] == 4
    reserved = reserving.finish()
    assert reserved.status == 200, reserved.body
    assert json.loads(reserved.body)["reserved"] == 2

    assert service.wait(timeout=15) == 0, service.stderr()


def test_sigterm_while_start_up_waits_for_the_seed_exits_0(
    built: Built, start: Launch, tmp_path: Path
) -> None:
    fifo = tmp_path / "seed.fifo"
    os.mkfifo(fifo)
    service = start(INVENTORY_SEED_FILE=str(fifo), DRAIN_DELAY="1s")
    # Blocked opening a FIFO nobody writes: one SIGTERM must still stop the service.
    service.wait_for_status("/startupz", 503)
    service.terminate()
    assert service.wait(timeout=15) == 0, service.stderr()
    assert "stopped during start-up" in service.stdout()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DRAIN_DELAY", "banana"),
        ("LOG_LEVEL", "chatty"),
        ("PPROF_ENABLED", "perhaps"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("LOG_RATE_LIMIT", "-1"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(built: Built, variable: str, value: str) -> None:
    env = {**os.environ, variable: value, "HTTP_ADDR": f"{LOOPBACK}:0"}
    result = run_tool([str(built.binary)], env=env, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]


def test_renamed_variable_is_refused_in_one_line_naming_its_successor(built: Built) -> None:
    """A deployment still setting SEED_FILE (renamed in template 0.2.0) must not start
    with the setting silently ignored."""
    env = {**os.environ, "SEED_FILE": "/var/run/seed.json", "HTTP_ADDR": f"{LOOPBACK}:0"}
    result = run_tool([str(built.binary)], env=env, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        'inventory-service: invalid SEED_FILE="/var/run/seed.json": '
        "renamed to INVENTORY_SEED_FILE: set that instead"
    ]


# Variables the OpenTelemetry SDK, automemlimit and the Go runtime read themselves, which
# the service's code does not name (or, without an underscore, the pattern below misses);
# the deployment sets several of them.
LIBRARY_VARIABLES = {
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "GOMEMLIMIT",
    "AUTOMEMLIMIT",
}


def variables_read_by_config(project: Path) -> set[str]:
    """Environment variable names in the code of the platform packages that read the
    environment (tests excluded); a renamed variable, which the config package names only
    to refuse it, is not read."""
    names: set[str] = set()
    platform = project / "internal" / "platform"
    sources = [
        source
        for package in ("config", "runtime", "telemetry")
        for source in (platform / package).glob("*.go")
    ]
    for source in sources:
        if not source.name.endswith("_test.go"):
            text = source.read_text(encoding="utf-8")
            names.update(re.findall(r'(?<!renamed)\(\s*"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', text))
    return names


def test_readme_lists_every_variable_the_config_reads(built: Built) -> None:
    variables = variables_read_by_config(built.project.path)
    assert variables >= CONTRACT_VARIABLES, CONTRACT_VARIABLES - variables
    assert {"OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"} <= variables
    readme = (built.project.path / "README.md").read_text(encoding="utf-8")
    undocumented = sorted(
        name for name in variables | LIBRARY_VARIABLES if f"`{name}`" not in readme
    )
    assert undocumented == []


def raw_exchange(port: int, request: bytes) -> tuple[Response, bytes | None]:
    """Send `request` on a fresh connection, read one response, then what follows it:
    b"" when the server closed the connection, None when it kept it open."""
    with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
        sock.sendall(request)
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        headers = {name.lower(): value for name, value in reply.getheaders()}
        response = Response(status=reply.status, headers=headers, body=reply.read())
        try:
            after = sock.recv(1)
        except TimeoutError:
            return response, None
        return response, after


def test_over_limit_chunked_body_is_413_and_the_connection_closed(
    built: Built, start: Launch
) -> None:
    """Through the service's whole middleware chain (tracing outermost): the server must
    not keep the connection and read on through a body it refused."""
    service = start(HTTP_MAX_BODY_BYTES=str(MAX_BODY_BYTES))
    service.wait_for_status("/readyz", 200)
    body = json.dumps({"id": "big-1", "quantity": 1, "note": "x" * (4 * MAX_BODY_BYTES)})
    head = (
        f"POST {built.collection} HTTP/1.1\r\nHost: {LOOPBACK}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunked = f"{len(body):x}\r\n{body}\r\n0\r\n\r\n"
    response, after = raw_exchange(service.http_port, (head + chunked).encode())
    assert_problem(response, 413, "request_too_large")
    assert response.headers.get("connection") == "close", response.headers
    assert after == b"", "the server kept the connection open after the 413"


def request_log(service: Service) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in service.stdout().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("msg") == "request"]


def test_every_request_is_logged_once_and_probes_only_when_failing(
    built: Built, start: Launch, tmp_path: Path
) -> None:
    fifo = tmp_path / "seed.fifo"
    os.mkfifo(fifo)
    service = start(INVENTORY_SEED_FILE=str(fifo), HTTP_MAX_BODY_BYTES=str(MAX_BODY_BYTES))
    # Probes fail until the seed is written: those answers are logged.
    service.wait_for_status("/startupz", 503)
    assert service.status("/readyz") == 503  # the FIFO blocks start-up until written
    write_to_fifo(fifo, b"[]", timeout=10)
    service.wait_for_status("/readyz", 200)
    for _ in range(3):  # succeeding probes: not logged at the default level
        assert service.status("/livez") == 200
        assert service.status("/readyz") == 200

    items = built.collection
    assert service.request("POST", items, '{"id": "log-1", "quantity": 1}').status == 201
    oversize = json.dumps({"id": "log-2", "quantity": 1, "note": "x" * (2 * MAX_BODY_BYTES)})
    assert service.request("POST", items, oversize).status == 413
    assert service.request("GET", "/nowhere").status == 404
    plain = request(
        service.http_port,
        "POST",
        items,
        '{"id": "log-3", "quantity": 1}',
        headers={"Content-Type": "text/plain"},
    )
    assert_problem(plain, 415, "unsupported_media_type")
    service.terminate()
    assert service.wait() == 0, service.stderr()

    log = request_log(service)
    probe_patterns = ("GET /livez", "GET /readyz", "GET /startupz")
    probes = [line for line in log if line["pattern"] in probe_patterns]
    assert probes, "no failing probe answer was logged"
    assert all(line["status"] == 503 and line["level"] == "WARN" for line in probes), probes
    others = [(line["method"], line["pattern"], line["status"]) for line in log]
    others = [entry for entry in others if entry[1] not in probe_patterns]
    assert others == [
        ("POST", f"POST {items}", 201),
        ("POST", "", 413),  # refused by the body limit before routing
        ("GET", "", 404),
        ("POST", f"POST {items}", 415),
    ]


def test_security_headers_on_every_response(built: Built, start: Launch) -> None:
    service = start()
    service.wait_for_status("/readyz", 200)
    for response in (
        service.request("GET", "/livez"),
        service.request("POST", built.collection, '{"id": "hdr-1", "quantity": 1}'),
        service.request("GET", f"{built.collection}/hdr-1"),
        service.request("GET", "/nowhere"),
    ):
        assert response.headers.get("x-content-type-options") == "nosniff", response.headers
        csp = response.headers.get("content-security-policy")
        assert csp == "default-src 'none'; frame-ancestors 'none'", response.headers


@pytest.mark.parametrize("pprof", ["true", "false"])
def test_admin_listener_has_readiness_details_and_build_info(
    built: Built, start: Launch, tmp_path: Path, pprof: str
) -> None:
    fifo = tmp_path / "seed.fifo"
    os.mkfifo(fifo)
    service = start(INVENTORY_SEED_FILE=str(fifo), PPROF_ENABLED=pprof)
    service.wait_for_status("/startupz", 503)

    def admin(path: str) -> Response:
        return request(service.admin_port, "GET", path)

    public = service.request("GET", "/readyz?verbose")
    assert public.status == 503
    assert b"[-]started failed\n" in public.body, public.body
    assert b"start-up work not done" not in public.body, public.body
    details = admin("/readyz")
    assert details.status == 503
    assert b"[-]started failed: start-up work not done\n" in details.body, details.body

    info = admin("/buildinfo")
    assert info.status == 200
    assert info.json()["service"] == built.project.service_name
    assert info.json()["go_version"].startswith("go")
    assert admin("/debug/pprof/").status == (200 if pprof == "true" else 404)
    for path in ("/buildinfo", "/debug/pprof/"):
        assert service.request("GET", path).status == 404
    write_to_fifo(fifo, b"[]", timeout=10)
    service.wait_for_status("/readyz", 200)
