"""`gosvc demo`: generate a service with default answers, build it, run it, show it answering.

Every request is printed as the curl command that repeats it, followed by the answer.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import TextIO

from gosvc import EXIT_CHECK_FAILED, EXIT_OK
from gosvc.errors import InputError, ToolMissingError
from gosvc.render import render_project
from gosvc.service import Service
from gosvc.template import TemplateSource


def run_demo(source: TemplateSource, workdir: Path, out: TextIO) -> int:
    started = time.monotonic()
    if shutil.which("make") is None:
        raise ToolMissingError(
            "make not found on PATH; the demo builds the service with its Makefile"
        )
    dest = workdir / "inventory-service"
    _clear_previous_demo(dest)
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create {workdir}: {error.strerror}") from None

    print(f"==> Generating a service with the default answers into {dest}", file=out)
    rendered = render_project(source, dest, {}, defaults=True, notes=out)
    service_name = str(rendered.values["service_name"])
    print(f"    rendered in {rendered.seconds:.1f}s", file=out)

    print("==> Building it: make build", file=out)
    build_started = time.monotonic()
    build = subprocess.run(
        ["make", "build"],
        cwd=dest,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        check=False,
    )
    if build.returncode != 0:
        print(build.stdout + build.stderr, file=out)
        print(f"demo: `make build` failed in {dest}", file=out)
        return EXIT_CHECK_FAILED
    binary = dest / "bin" / service_name
    print(f"    {binary} built in {time.monotonic() - build_started:.1f}s", file=out)

    service = Service(binary, log_dir=workdir, env={"DRAIN_DELAY": "1s"})
    try:
        print(f"==> Starting it on 127.0.0.1:{service.http_port} (DRAIN_DELAY=1s)", file=out)
        try:
            service.wait_for_status("/startupz", 200)
        except (TimeoutError, RuntimeError) as error:
            print(f"demo: the service did not start: {error}", file=out)
            print(service.stderr(), file=out)
            return EXIT_CHECK_FAILED
        for path in ("/livez", "/readyz?verbose", "/startupz"):
            _show(service, "GET", path, None, out)
        if rendered.values["example_domain"]:
            collection = f"/v1/{rendered.values['aggregate_plural']}"
            _show(service, "POST", collection, {"id": "sku-1", "quantity": 10}, out)
            _show(service, "GET", f"{collection}/sku-1", None, out)
            _show(service, "POST", f"{collection}/sku-1/reservations", {"quantity": 3}, out)
            _show(service, "POST", f"{collection}/sku-1/reservations", {"quantity": 100}, out)
            _show(service, "GET", f"{collection}/sku-404", None, out)
        print(
            "==> Stopping it with SIGTERM (readiness turns 503, 1s drain, then shutdown)", file=out
        )
        service.terminate()
        # During the drain the listener still serves, but readiness already fails.
        try:
            service.wait_for_status("/readyz", 503, timeout=5)
        except (TimeoutError, RuntimeError) as error:
            print(f"demo: readiness did not turn 503 on SIGTERM: {error}", file=out)
            return EXIT_CHECK_FAILED
        _show(service, "GET", "/readyz?verbose", None, out)
        code = service.wait()
    finally:
        service.stop()
    print(f"    exited with code {code}; its JSON logs are in {service.stdout_path}", file=out)
    print(
        f"==> Done in {time.monotonic() - started:.0f}s. The service is in {dest}: "
        f"`cd {dest} && make run` starts it again.",
        file=out,
    )
    return EXIT_OK if code == 0 else EXIT_CHECK_FAILED


def _clear_previous_demo(dest: Path) -> None:
    """Replace a previous demo's service, and nothing else."""
    if not dest.exists():
        return
    if not (dest / ".copier-answers.yml").is_file():
        raise InputError(f"{dest} exists and is not a generated service; move it away first")
    shutil.rmtree(dest)


def _show(service: Service, method: str, path: str, body: object, out: TextIO) -> None:
    payload = json.dumps(body) if body is not None else None
    url = f"http://127.0.0.1:{service.http_port}{path}"
    response = service.request(method, path, payload)
    print(f"\n$ {curl_command(method, url, payload)}", file=out)
    print(curl_output(response.status, response.body), file=out)


# Prints the body, then the status code on a line of its own.
_CURL_WRITE_OUT = "\\n%{http_code}\\n"


def curl_command(method: str, url: str, payload: str | None) -> str:
    """A curl command line whose output is curl_output() of the response."""
    words = ["curl", "-s", "-X", method, "-w", _CURL_WRITE_OUT, url]
    if payload is not None:
        words += ["-H", "Content-Type: application/json", "-d", payload]
    return shlex.join(words)


def curl_output(status: int, body: bytes) -> str:
    """What curl_command() prints for a response, without its final newline."""
    return f"{body.decode('utf-8', errors='replace')}\n{status}"
