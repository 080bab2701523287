"""A real PostgreSQL server for the components tests: Debian's `postgresql` package
(`.ci/run` installs it), a throwaway cluster made with initdb on a free loopback port.

PostgreSQL refuses to run as root, so when the tests run as root (CI) the cluster belongs
to `nobody` and every server command runs through `runuser`; its folder lives outside
pytest's private temporary folder, which `nobody` cannot enter.

The shared server (`shared_postgres`) is started once per test run by whichever xdist
worker asks first and stopped by the last one to finish: each worker holds a share,
counted in a file under a lock, so one worker finishing early never stops it under another.
Each test creates a database of its own in it. A test that stops the server (the outage
test) makes a private one (`PostgresCluster.create`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock
from gosvc.service import free_port

SERVER_USER = "nobody"  # the unprivileged owner when the tests run as root


def bin_dir() -> Path:
    """The newest installed PostgreSQL's binaries (/usr/lib/postgresql/<major>/bin)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed (Debian's postgresql package: .ci/run installs it)"
        )
    return found[-1].parent


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVER_USER, "--", *argv]
    return argv


def _run(argv: list[str], *, timeout: float = 60) -> str:
    completed = subprocess.run(
        _as_server_user(argv),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{completed.stdout}{completed.stderr}")
    return completed.stdout


@dataclass
class PostgresCluster:
    """One initdb'd cluster: its folder, port and superuser (`postgres`, trust auth on
    loopback only)."""

    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @classmethod
    def create(cls, parent: Path | None = None) -> PostgresCluster:
        root = Path(tempfile.mkdtemp(prefix="gosvc-pg-", dir=parent))
        root.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(root, user=SERVER_USER)
        cluster = cls(root=root, port=free_port())
        _run(
            [
                str(bin_dir() / "initdb"),
                "--pgdata",
                str(cluster.data),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--no-sync",
                "--encoding",
                "UTF8",
            ]
        )
        return cluster

    def start(self) -> None:
        # fsync off: a throwaway cluster needs no durability, and the tests get faster.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        log = self.root / "server.log"
        _run(
            [
                str(bin_dir() / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self, mode: str = "fast") -> None:
        _run([str(bin_dir() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def running(self) -> bool:
        completed = subprocess.run(
            _as_server_user([str(bin_dir() / "pg_ctl"), "-D", str(self.data), "status"]),
            capture_output=True,
            check=False,
        )
        return completed.returncode == 0

    def remove(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def psql(self, sql: str, database: str = "postgres") -> str:
        return _run(
            [
                str(bin_dir() / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.url(database),
                "-c",
                sql,
            ]
        )

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def accepts_connections(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False


@contextlib.contextmanager
def shared_cluster(state_dir: Path) -> Iterator[PostgresCluster]:
    """This worker's share of the run's one server, in `state_dir` (shared by workers)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(state_dir / "postgres.lock")
    where = state_dir / "postgres.cluster"  # "root port"
    holders = state_dir / "postgres.holders"
    with lock:
        if where.exists():
            root, port = where.read_text(encoding="utf-8").split()
            cluster = PostgresCluster(root=Path(root), port=int(port))
        else:
            cluster = PostgresCluster.create()
            where.write_text(f"{cluster.root} {cluster.port}", encoding="utf-8")
        if not cluster.running():
            cluster.start()
        count = int(holders.read_text(encoding="utf-8")) if holders.exists() else 0
        holders.write_text(str(count + 1), encoding="utf-8")
    try:
        yield cluster
    finally:
        with lock:
            count = int(holders.read_text(encoding="utf-8")) - 1
            holders.write_text(str(count), encoding="utf-8")
            if count == 0:
                cluster.remove()
                where.unlink()
