"""Real components built from their Go modules, for the template's tests and `gosvc bench`.

Jaeger: the pinned release of ``github.com/jaegertracing/jaeger`` (its ``cmd/jaeger``, the
OpenTelemetry-Collector-based Jaeger) is built once, in a tools module of its own
(``go get -tool``), and cached under ``<cache>/jaeger-<version>-<go version>/``, where
``<cache>`` is ``$COPIER_GO_SERVICE_TOOLS`` or ``~/.cache/copier-go-service/tools``. A file
lock makes concurrent callers (pytest workers, a bench run) build it once: the others
wait. Nothing but Go and the module proxy is needed, so a cold machine builds it too.

`running_jaeger()` starts it on free loopback ports with in-memory storage and yields its
OTLP endpoints and its HTTP query API::

    with running_jaeger() as jaeger:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_http}
        ...
        traces = jaeger.traces("my-service")
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gosvc.service import LOOPBACK, free_port, stop_process

JAEGER_MODULE = "github.com/jaegertracing/jaeger"
JAEGER_PACKAGE = f"{JAEGER_MODULE}/cmd/jaeger"
# v1.76.0 is served but is not an approved release.
JAEGER_VERSION = "v1.75.0"

Progress = Callable[[str], None]


class ComponentUnavailable(RuntimeError):
    """A component or tool could not be built or started; the message says why."""


def tools_root() -> Path:
    """The cache of built components and tools (tests/delivery_tools builds there too)."""
    override = os.environ.get("COPIER_GO_SERVICE_TOOLS")
    if override:
        return Path(override)
    return Path.home() / ".cache" / "copier-go-service" / "tools"


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise ComponentUnavailable("the Go toolchain is not on PATH; install Go 1.25 or later")
    return go


@functools.cache
def go_version() -> str:
    """The Go toolchain's version, e.g. go1.26.8: part of each cached build's key."""
    result = subprocess.run(
        [_go(), "env", "GOVERSION"], capture_output=True, text=True, check=False
    )
    version = result.stdout.strip()
    if result.returncode != 0 or not version:
        raise ComponentUnavailable(f"`go env GOVERSION` failed: {result.stderr.strip()}")
    return version


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path`, held for the block (released if the holder dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _quiet(_: str) -> None:
    pass


def jaeger_binary(progress: Progress | None = None) -> Path:
    """The cached Jaeger binary, built first if this machine has none for this Go version.

    `progress` is told when a build starts and how long it took (a cold build downloads
    and compiles a few hundred modules: minutes).
    """
    say = progress or _quiet
    final_dir = tools_root() / f"jaeger-{JAEGER_VERSION}-{go_version()}"
    binary = final_dir / "jaeger"
    if binary.is_file():
        return binary
    with _file_lock(final_dir.parent / f".{final_dir.name}.lock"):
        if binary.is_file():  # built by another process while this one waited
            return binary
        say(f"building Jaeger {JAEGER_VERSION} from its Go module (once; cached in {final_dir})")
        started = time.monotonic()
        _build_jaeger(final_dir)
        say(f"built Jaeger {JAEGER_VERSION} in {time.monotonic() - started:.0f}s")
    return binary


def _build_jaeger(final_dir: Path) -> None:
    """Build into a scratch folder beside `final_dir`, then rename it into place, so a
    build that fails or is killed half-way leaves nothing that looks finished."""
    scratch = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}-", dir=final_dir.parent))
    env = dict(os.environ)
    # A main module of its own: no workspace or -mod flag of the caller applies.
    env.update(GOWORK="off", GOFLAGS="-buildvcs=false", CGO_ENABLED="0")
    steps = [
        [_go(), "mod", "init", "jaeger.tools.local"],
        [_go(), "get", "-tool", f"{JAEGER_PACKAGE}@{JAEGER_VERSION}"],
        [_go(), "build", "-trimpath", "-o", str(scratch / "jaeger"), JAEGER_PACKAGE],
    ]
    try:
        module = scratch / "module"
        module.mkdir()
        for step in steps:
            result = subprocess.run(
                step, cwd=module, env=env, capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                raise ComponentUnavailable(
                    f"building Jaeger failed ({' '.join(step)}):\n{result.stderr.strip()}\n"
                    "check that the Go module proxy is reachable (GOPROXY) and retry"
                )
        # Keep the tools module (go.mod, go.sum): it records what the binary was built from.
        try:
            scratch.rename(final_dir)
        except OSError:
            if not (final_dir / "jaeger").is_file():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class Jaeger:
    """A running Jaeger: where to send OTLP, and its HTTP query API."""

    otlp_http: str  # base URL for OTEL_EXPORTER_OTLP_ENDPOINT with http/protobuf
    otlp_grpc: str  # the same for grpc
    query_url: str  # the query API (and UI): /api/services, /api/traces...
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, **params: str) -> Any:
        """GET a query API path and return its JSON body (raises on an HTTP error)."""
        url = f"{self.query_url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as reply:
            return json.loads(reply.read())

    def services(self) -> list[str]:
        return list(self.get("/api/services").get("data") or [])

    def traces(self, service: str, limit: int = 100) -> list[dict[str, Any]]:
        """The traces holding spans of `service` (Jaeger's JSON: traceID, spans, processes)."""
        return list(self.get("/api/traces", service=service, limit=str(limit)).get("data") or [])

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """One whole trace by its id, or None while Jaeger has no span of it."""
        try:
            data = self.get(f"/api/traces/{trace_id}").get("data") or []
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise
        return data[0] if data else None

    def stop(self) -> None:
        """Stop Jaeger (SIGTERM, then SIGKILL after 10 s); safe to call twice."""
        stop_process(self.process, grace=10)

    def kill(self) -> None:
        """Kill Jaeger at once, as a crashed collector would go."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _config(ports: dict[str, int]) -> str:
    """Jaeger's all-in-one configuration with in-memory storage, every listener on a free
    loopback port, and only the receivers and extensions the tests use."""
    host = LOOPBACK
    return f"""\
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: info

extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: {host}:{ports["query_http"]}
    grpc:
      endpoint: {host}:{ports["query_grpc"]}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  healthcheckv2:
    use_v2: true
    http:
      endpoint: {host}:{ports["health"]}

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {host}:{ports["otlp_grpc"]}
      http:
        endpoint: {host}:{ports["otlp_http"]}

processors:
  batch:
    timeout: 100ms

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


@contextmanager
def running_jaeger(
    progress: Progress | None = None, *, workdir: Path | None = None, timeout: float = 60
) -> Iterator[Jaeger]:
    """Start Jaeger (building it first if needed) and stop it when the block ends.

    Its configuration and log go to `workdir` (a temporary folder when None); the log is
    in the error if it does not become healthy within `timeout` seconds.
    """
    binary = jaeger_binary(progress)
    with tempfile.TemporaryDirectory(prefix="jaeger-") as scratch:
        folder = workdir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        ports = {
            name: free_port()
            for name in ("otlp_http", "otlp_grpc", "query_http", "query_grpc", "health")
        }
        config = folder / "jaeger.yaml"
        config.write_text(_config(ports), encoding="utf-8")
        log = folder / "jaeger.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(binary), "--config", f"file:{config}"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        jaeger = Jaeger(
            otlp_http=f"http://{LOOPBACK}:{ports['otlp_http']}",
            otlp_grpc=f"http://{LOOPBACK}:{ports['otlp_grpc']}",
            query_url=f"http://{LOOPBACK}:{ports['query_http']}",
            process=process,
            log=log,
        )
        try:
            _wait_healthy(jaeger, ports["health"], timeout)
            yield jaeger
        finally:
            jaeger.stop()


def _wait_healthy(jaeger: Jaeger, health_port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://{LOOPBACK}:{health_port}/status"
    while True:
        if jaeger.process.poll() is not None:
            raise ComponentUnavailable(
                f"Jaeger exited with {jaeger.process.returncode} at start:\n"
                + jaeger.log.read_text(encoding="utf-8", errors="replace")[-4000:]
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    # The query API may start a moment after the health check answers.
                    jaeger.services()
                    return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            jaeger.stop()
            raise ComponentUnavailable(
                f"Jaeger was not healthy after {timeout:.0f}s:\n"
                + jaeger.log.read_text(encoding="utf-8", errors="replace")[-4000:]
            )
        time.sleep(0.2)
