"""Start a server binary on loopback, wait for it to answer, read its memory, stop it."""

from __future__ import annotations

import http.client
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from gosvc.errors import GosvcError

LOOPBACK = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the unit of /proc/<pid>/stat's CPU times


def get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes] | None:
    """GET path; (status, body), or None while nothing answers on the port."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("GET", path)
        reply = connection.getresponse()
        return reply.status, reply.read()
    except OSError:
        return None
    finally:
        connection.close()


def post(port: int, path: str, body: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=5.0)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


class Server:
    """A server process; its stdout (the access log, when on) goes to /dev/null, as a
    container runtime would take it off the process's hands, and stderr to a file for
    the error message if it dies."""

    def __init__(
        self, argv: Sequence[str], env: Mapping[str, str], port: int, stderr: Path
    ) -> None:
        self.port = port
        self.name = Path(argv[0]).name
        self.stderr_path = stderr
        with stderr.open("wb") as err:
            self.started = time.monotonic()
            self.process = subprocess.Popen(
                list(argv),
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def wait_for(self, path: str, timeout: float = 30.0) -> float:
        """Poll GET path until it answers 200; the seconds since exec."""
        deadline = self.started + timeout
        while True:
            answer = get(self.port, path, timeout=1.0)
            if answer is not None and answer[0] == 200:
                return time.monotonic() - self.started
            if self.process.poll() is not None:
                raise GosvcError(
                    f"{self.name} exited with {self.process.returncode} before "
                    f"answering {path}: {self.stderr()[-1000:]}"
                )
            if time.monotonic() > deadline:
                raise GosvcError(f"{self.name} did not answer {path} with 200")
            # Short: the start-up time is measured by this loop.
            time.sleep(0.0005)

    def rss_bytes(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="utf-8")
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise GosvcError(f"no VmRSS for process {self.process.pid}")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time a running process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    # The command name, field 2, may hold spaces and parentheses: count from its last ")".
    fields = stat.rsplit(")", 1)[1].split()
    user, system = int(fields[11]), int(fields[12])  # fields 14 and 15 in proc(5)
    return (user + system) / CLOCK_TICKS
