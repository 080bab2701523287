"""A real Prometheus for the components layer: built from its Go module, started on a free
loopback port, asked through its HTTP API.

Prometheus and promtool come from ``github.com/prometheus/prometheus`` at PROMETHEUS_VERSION
(Prometheus 3.x: the OTLP receiver behind ``--web.enable-otlp-receiver``), built with
``go install`` into ``<cache>/prometheus-<version>-<go version>/`` like the delivery tools
(``gosvc.components.tools_root``), once, under a file lock. The build tag ``remove_all_sd``
leaves out every cloud service discovery (static targets are all the tests use), which
about halves the cold build. No web UI is embedded; the API is all the tests need.

``python tests/prometheus_tools.py`` builds both and prints how long that took.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from delivery_tools import _install_atomically
from gosvc.components import _go, go_version, tools_root
from gosvc.service import LOOPBACK, free_port, stop_process, wait_for

PROMETHEUS_MODULE = "github.com/prometheus/prometheus"
PROMETHEUS_VERSION = "v0.316.0"  # Prometheus 3.x; the module's tags are v0.<minor><patch>


def ensure_prometheus() -> Path:
    """The folder holding the `prometheus` and `promtool` binaries, built if missing."""
    final_dir = tools_root() / f"prometheus-{PROMETHEUS_VERSION}-{go_version()}"
    packages = [
        f"{PROMETHEUS_MODULE}/cmd/{name}@{PROMETHEUS_VERSION}"
        for name in ("prometheus", "promtool")
    ]
    with tempfile.TemporaryDirectory() as outside_any_module:
        # promtool is built by the same command, so its presence follows prometheus'.
        _install_atomically(
            final_dir,
            "prometheus",
            [_go(), "install", "-tags", "remove_all_sd", *packages],
            cwd=Path(outside_any_module),
        )
    return final_dir


def promtool() -> Path:
    return ensure_prometheus() / "promtool"


class Prometheus:
    """A Prometheus server with its own storage, scraping `targets` every second."""

    def __init__(
        self,
        workdir: Path,
        scrape_jobs: Mapping[str, list[str]],
        rule_files: list[Path] | None = None,
        port: int | None = None,
    ) -> None:
        binary = ensure_prometheus() / "prometheus"
        # A port chosen beforehand lets a service be told where to push before this starts.
        self.port = port if port is not None else free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]}
                for job, targets in scrape_jobs.items()
            ],
            "rule_files": [str(path) for path in rule_files or []],
        }
        workdir.mkdir(parents=True, exist_ok=True)
        config_file = workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.log_path = workdir / "prometheus.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(binary),
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address={LOOPBACK}:{self.port}",
                    "--web.enable-otlp-receiver",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._ready, timeout=60, what="Prometheus /-/ready")

    def _ready(self) -> bool | None:
        if self.process.poll() is not None:
            raise RuntimeError(f"Prometheus exited: {self.log()}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                return True if reply.status == 200 else None
        except OSError:
            return None

    @property
    def otlp_metrics_endpoint(self) -> str:
        return f"{self.url}/api/v1/otlp/v1/metrics"

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the `data` of a successful answer, else an AssertionError
        with Prometheus' error text."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                answer = json.load(reply)
        except urllib.error.HTTPError as error:
            answer = json.load(error)
        assert answer.get("status") == "success", f"{path} {params}: {answer}"
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (or matrix, scalar: as Prometheus gives it)."""
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: str) -> list[dict[str, Any]]:
        data = self.api("query_range", query=expr, start=str(start), end=str(end), step=step)
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The single value of a query that returns one sample, None when it returns none."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} returned {len(result)} series: {result}"
        return float(result[0]["value"][1]) if result else None

    def wait_for_value(self, expr: str, want: float, timeout: float = 30.0) -> float:
        def reached() -> float | None:
            got = self.value(expr)
            return got if got == want else None

        try:
            return wait_for(reached, timeout=timeout, what=f"{expr} == {want}")
        except TimeoutError as error:
            raise AssertionError(f"{error}; last value {self.value(expr)}") from None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        stop_process(self.process, grace=20)


def main() -> int:
    started = time.monotonic()
    folder = ensure_prometheus()
    took = time.monotonic() - started
    print(f"prometheus and promtool {PROMETHEUS_VERSION}: {folder} ({took:.1f}s)")
    print(shutil.which("go"), go_version())
    return 0


if __name__ == "__main__":
    sys.exit(main())
