"""Run a generated service's binary on loopback ports and talk HTTP to it.

Used by `gosvc demo` and by the template's run tests, so both drive the service the same way.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

LOOPBACK = "127.0.0.1"
T = TypeVar("T")


def free_port() -> int:
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited after `grace` seconds; nothing when it
    has exited already, so it is safe to call twice."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Response:
    """One HTTP/1.1 request to the service on loopback."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        payload = body.encode() if isinstance(body, str) else body
        all_headers = {"Content-Type": "application/json"} if payload is not None else {}
        all_headers.update(headers or {})
        connection.request(method, path, body=payload, headers=all_headers)
        reply = connection.getresponse()
        return Response(
            status=reply.status,
            headers={name.lower(): value for name, value in reply.getheaders()},
            body=reply.read(),
        )
    finally:
        connection.close()


def wait_for(
    condition: Callable[[], T | None], *, timeout: float, what: str, every: float = 0.05
) -> T:
    """Poll `condition` every `every` seconds until it returns a value other than None, or
    fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


class Service:
    """A running service binary with its public and admin listeners on free loopback ports.

    stdout (slog JSON) and stderr go to files in `log_dir`, so a chatty service never
    blocks on a full pipe.
    """

    def __init__(
        self,
        binary: Path,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        *,
        http_port: int | None = None,
    ) -> None:
        # A fixed port lets a test restart a service where its callers expect it.
        self.http_port = http_port if http_port is not None else free_port()
        self.admin_port = free_port()
        self.stdout_path = log_dir / f"{binary.name}.stdout.log"
        self.stderr_path = log_dir / f"{binary.name}.stderr.log"
        full_env = {
            **os.environ,
            "HTTP_ADDR": f"{LOOPBACK}:{self.http_port}",
            "ADMIN_ADDR": f"{LOOPBACK}:{self.admin_port}",
            **(env or {}),
        }
        with self.stdout_path.open("wb") as stdout, self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [str(binary)], env=full_env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
            )

    def request(self, method: str, path: str, body: bytes | str | None = None) -> Response:
        return request(self.http_port, method, path, body)

    def status(self, path: str) -> int | None:
        """The status of GET `path`, or None while nothing answers on the port."""
        try:
            return request(self.http_port, "GET", path, timeout=2.0).status
        except OSError:
            return None

    def wait_for_status(self, path: str, status: int, timeout: float = 15.0) -> int:
        def answered() -> int | None:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited early: {self.stderr()}")
            return status if self.status(path) == status else None

        return wait_for(answered, timeout=timeout, what=f"GET {path} -> {status}")

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """Make sure the process is gone (for clean-up after a failed test)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")
