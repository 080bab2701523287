"""Layer 3, run: the log level changed on the admin listener takes effect at once, without a
restart, and the change is logged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gosvc.service import Service, request, wait_for
from support import DEFAULTS, BuildSet, Built

pytestmark = pytest.mark.run


@pytest.fixture
def service(built_set: BuildSet, tmp_path: Path) -> Iterator[Service]:
    built: Built = built_set(DEFAULTS)
    running = Service(built.binary, log_dir=tmp_path, env={"DRAIN_DELAY": "0s"})
    running.wait_for_status("/readyz", 200)
    yield running
    running.stop()


def lines(service: Service, message: str) -> list[dict[str, Any]]:
    parsed = (json.loads(line) for line in service.stdout().splitlines() if line.startswith("{"))
    return [line for line in parsed if line.get("msg") == message]


def put_level(service: Service, level: str) -> dict[str, Any]:
    response = request(service.admin_port, "PUT", "/loglevel", json.dumps({"level": level}))
    assert response.status == 200, response.body
    body: dict[str, Any] = response.json()
    return body


def test_log_level_changes_at_run_time(service: Service) -> None:
    current = request(service.admin_port, "GET", "/loglevel")
    assert current.status == 200 and current.json() == {"level": "INFO"}, current.body
    assert service.request("GET", "/livez/nowhere").status == 404
    wait_for(lambda: lines(service, "request") or None, timeout=5, what="the access log line")

    # At error, the access log (info) stops: no restart, the same process.
    assert put_level(service, "error") == {"level": "ERROR"}
    before = len(lines(service, "request"))
    for _ in range(5):
        assert service.request("GET", "/livez/nowhere").status == 404
    assert len(lines(service, "request")) == before, service.stdout()

    # Back at info, every request is logged again.
    assert put_level(service, "INFO") == {"level": "INFO"}
    assert service.request("GET", "/livez/nowhere").status == 404
    wait_for(
        lambda: True if len(lines(service, "request")) == before + 1 else None,
        timeout=5,
        what="the access log line after the level went back to info",
    )
    changes = [(line["from"], line["to"]) for line in lines(service, "log level changed")]
    assert changes == [("INFO", "ERROR"), ("ERROR", "INFO")], service.stdout()

    refused = request(service.admin_port, "PUT", "/loglevel", json.dumps({"level": "loud"}))
    assert refused.status == 400, refused.body
    assert request(service.admin_port, "GET", "/loglevel").json() == {"level": "INFO"}
    # Never on the public listener.
    assert service.request("GET", "/loglevel").status == 404
