"""Delivery, Makefile: `make run` stops cleanly on Ctrl-C, and `make bench` runs
benchmarks and nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from support import Project, run_tool

pytestmark = pytest.mark.delivery


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(url: str, process: subprocess.Popen[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "make run ended before the service answered"
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {seconds}s")


def test_make_run_stops_cleanly_on_ctrl_c(fresh_project: Project) -> None:
    """Ctrl-C reaches every process of the terminal's foreground group: make and the
    service. go run reported its child's signal as exit 1 (make: *** Error 1); the
    binary drains and exits 0, and make stops as interrupted, without an error."""
    port = free_port()
    env = {
        **os.environ,
        "HTTP_ADDR": f"127.0.0.1:{port}",
        "ADMIN_ADDR": f"127.0.0.1:{free_port()}",
        "DRAIN_DELAY": "0s",
    }
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=fresh_project.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/livez", process, seconds=240)
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert "Error" not in output, output
    assert '"msg":"stopped"' in output, output
    assert process.returncode in (0, -signal.SIGINT), output


def test_make_bench_runs_benchmarks_only(fresh_project: Project) -> None:
    package = fresh_project.path / "internal" / "platform" / "health"
    (package / "zz_bench_only_test.go").write_text(
        "package health_test\n\n"
        'import "testing"\n\n'
        'func TestMustNotRunUnderBench(t *testing.T) { t.Fatal("a test ran under make bench") }\n\n'
        "func BenchmarkOnlyThis(b *testing.B) {\n\tfor b.Loop() {\n\t}\n}\n"
    )
    result = run_tool(["make", "bench"], cwd=fresh_project.path, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BenchmarkOnlyThis" in result.stdout
    assert "a test ran" not in result.stdout
