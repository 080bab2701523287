"""Delivery, Makefile: `make run` stops cleanly on Ctrl-C, `make bench` runs benchmarks and
nothing else, `make load` drives a running service, `make escape` lists heap moves, and the
hot path's allocation budget names what a change adds."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gosvc.service import Service, free_port
from support import DEFAULTS, BuildSet, Project, run_tool

pytestmark = pytest.mark.delivery


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


def test_make_load_drives_the_running_service(built_set: BuildSet, tmp_path: Path) -> None:
    built = built_set(DEFAULTS)
    service = Service(built.binary, log_dir=tmp_path)
    try:
        service.wait_for_status("/startupz", 200)
        result = run_tool(
            ["make", "load", f"SERVICE_URL=http://127.0.0.1:{service.http_port}",
             "DURATION=1s", "CONNECTIONS=4"],
            cwd=built.project.path, timeout=120,
        )  # fmt: skip
        # The record make load created, so the GET it drove answered 200, not 404.
        record = service.request("GET", f"{built.collection}/load-1")
    finally:
        service.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
    assert f"{built.collection}/load-1" in result.stdout
    assert "Requests/sec:" in result.stdout and "Latency Distribution" in result.stdout
    assert "Non-2xx" not in result.stdout, result.stdout
    assert record.status == 200


def test_make_escape_lists_what_the_hot_packages_move_to_the_heap(
    built_set: BuildSet,
) -> None:
    project = built_set(DEFAULTS).project
    result = run_tool(["make", "escape"], cwd=project.path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    context = project.values["context_name"]
    for package in ("platform/respond", "platform/httpserver", f"{context}/adapter/http"):
        assert any(package in line and "heap" in line for line in lines), (package, lines)


def test_allocation_budget_names_how_many_a_change_adds(fresh_project: Project) -> None:
    """One header set the ordinary way on every response is one allocation more."""
    middleware = fresh_project.path / "internal" / "platform" / "httpserver" / "middleware.go"
    source = middleware.read_text(encoding="utf-8")
    assignment = 'h["Referrer-Policy"] = noReferrer'
    assert assignment in source
    middleware.write_text(
        source.replace(assignment, 'h.Set("Referrer-Policy", "no-referrer")'), encoding="utf-8"
    )
    command = shlex.split("go test -count=1 -run Allocations ./cmd/...")
    result = run_tool(command, cwd=fresh_project.path)
    assert result.returncode != 0, result.stdout
    assert "1 more than its budget of" in result.stdout, result.stdout
    assert "(defaults)" in result.stdout and "(quiet)" in result.stdout
