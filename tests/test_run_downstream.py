"""Layer 3, run: two services built from the template, one calling the other. The default
service's example API asks its downstream (PRICING_URL) for the same record; the
downstream here is a second instance of a service generated from this template, so the
contract is one a generated service really serves. The downstream is up, then down, then
flapping (restarted again and again on the same port): every answer is a 200, correct when
the downstream answers, marked degraded (body and header) from the last known value when
it does not, and never a 500."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from gosvc.service import LOOPBACK, Response, Service, free_port, wait_for
from support import DEFAULTS, BuildSet, Built, Launch, run_tool

pytestmark = pytest.mark.run

# Short enough for the test to see the breaker open and close again within seconds.
FAST_CLIENT = {
    "TIMEOUT": "1s",
    "ATTEMPT_TIMEOUT": "300ms",
    "RETRY_BACKOFF": "10ms",
    "RETRY_BACKOFF_MAX": "50ms",
    "BREAKER_MIN_REQUESTS": "3",
    "BREAKER_OPEN_TIMEOUT": "300ms",
    "BREAKER_HALF_OPEN_PROBES": "1",
}


@pytest.fixture(scope="module")
def built(built_set: BuildSet) -> Built:
    """The run's shared build of the default answers: consumer and downstream alike."""
    return built_set(DEFAULTS)


def seed(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return str(path)


def start_downstream(built: Built, start: Launch, tmp_path: Path, port: int) -> Service:
    """The downstream: the same service, holding sku-1 with 4 available, on a fixed port."""
    return start(
        "downstream",
        http_port=port,
        DRAIN_DELAY="0s",
        **{built.seed_variable: seed(tmp_path, "downstream", [{"id": "sku-1", "quantity": 4}])},
    )


def start_consumer(
    built: Built, start: Launch, tmp_path: Path, downstream_port: int, **client: str
) -> Service:
    records = [{"id": "sku-1", "quantity": 10}, {"id": "sku-2", "quantity": 1}]
    env = {built.downstream_env(k): v for k, v in {**FAST_CLIENT, **client}.items()}
    env[built.downstream_env("URL")] = f"http://{LOOPBACK}:{downstream_port}{built.collection}"
    env[built.seed_variable] = seed(tmp_path, "consumer", records)
    return start("consumer", DRAIN_DELAY="0s", **env)


def stop(service: Service) -> None:
    service.terminate()
    assert service.wait() == 0, service.stderr()


def get(consumer: Service, built: Built, item: str) -> Response:
    response = consumer.request("GET", f"{built.collection}/{item}")
    assert response.status == 200, response.body
    return response


def assert_fresh(response: Response, built: Built, available: int | None) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert body["degraded"] is False, body
    assert "degraded" not in response.headers, response.headers
    assert body["downstream"]["service"] == built.downstream
    assert body["downstream"]["available"] == available, body
    return body


def assert_degraded(response: Response, built: Built, available: int | None) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert body["degraded"] is True, body
    assert response.headers.get("degraded") == built.downstream, response.headers
    assert body["downstream"]["available"] == available, body
    return body


def log_lines(service: Service, message: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in service.stdout().splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("msg") == message]


def test_downstream_up_then_down(built: Built, start: Launch, tmp_path: Path) -> None:
    port = free_port()
    downstream = start_downstream(built, start, tmp_path, port)
    # Open long enough that the breaker, once open, stays open while the outage is checked.
    consumer = start_consumer(built, start, tmp_path, port, BREAKER_OPEN_TIMEOUT="3s")

    # Up: the downstream's own record of sku-1, and no record of sku-2 (an answer, not a
    # failure).
    fresh = assert_fresh(get(consumer, built, "sku-1"), built, available=4)
    assert fresh["available"] == 10  # the consumer's own stock is untouched
    assert_fresh(get(consumer, built, "sku-2"), built, available=None)

    # Down: the last known value, marked degraded; a record never seen has none.
    stop(downstream)
    for _ in range(10):
        stale = assert_degraded(get(consumer, built, "sku-1"), built, available=4)
        assert stale["downstream"]["as_of"] == fresh["downstream"]["as_of"]
        assert stale["available"] == 10
        assert_degraded(get(consumer, built, "sku-2"), built, available=None)

    # The breaker opened, said so once, and calls stopped waiting for the dead port.
    opened = log_lines(consumer, "circuit breaker open")
    assert len(opened) == 1, consumer.stdout()
    assert opened[0]["downstream"] == built.downstream
    started = time.monotonic()
    assert_degraded(get(consumer, built, "sku-1"), built, available=4)
    print(f"a degraded answer with the breaker open took {time.monotonic() - started:.4f}s")

    # The other API is untouched by the outage.
    reserved = consumer.request("POST", f"{built.collection}/sku-1/reservations", '{"quantity": 3}')
    assert reserved.status == 200, reserved.body

    # Back up: after the open timeout a probe closes the breaker and answers are fresh.
    start_downstream(built, start, tmp_path, port)
    wait_for(
        lambda: True if get(consumer, built, "sku-1").json()["degraded"] is False else None,
        timeout=10,
        what="a fresh answer once the downstream is back",
    )
    assert [line["from"] for line in log_lines(consumer, "circuit breaker closed")] == ["half-open"]


def test_flapping_downstream_never_fails_a_request(
    built: Built, start: Launch, tmp_path: Path
) -> None:
    port = free_port()
    downstream: Service | None = start_downstream(built, start, tmp_path, port)
    consumer = start_consumer(built, start, tmp_path, port)
    assert_fresh(get(consumer, built, "sku-1"), built, available=4)

    outcomes: Counter[str] = Counter()
    for cycle in range(6):
        # Half the cycles the downstream goes away, half it comes back, polled throughout.
        if downstream is None:
            downstream = start_downstream(built, start, tmp_path, port)
        else:
            stop(downstream)
            downstream = None
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            response = consumer.request("GET", f"{built.collection}/sku-1")
            assert response.status == 200, (cycle, response.body)
            body = response.json()
            # Up or down, the value is the downstream's 4: fresh, or the last known one.
            assert body["downstream"]["available"] == 4, body
            assert (response.headers.get("degraded") == built.downstream) == body["degraded"]
            outcomes["degraded" if body["degraded"] else "fresh"] += 1
            time.sleep(0.02)
    print(f"answers while flapping: {dict(outcomes)}")
    assert outcomes["fresh"] > 0 and outcomes["degraded"] > 0, outcomes
    assert not [line for line in consumer.stdout().splitlines() if '"status":500' in line]


def test_without_a_downstream_url_it_runs_on_the_fallback_and_says_so_once(
    built: Built, start: Launch
) -> None:
    consumer = start("alone", DRAIN_DELAY="0s")
    assert consumer.request("POST", built.collection, '{"id":"sku-1","quantity":2}').status == 201
    for _ in range(5):
        assert_degraded(get(consumer, built, "sku-1"), built, available=None)
    notices = [
        line
        for line in consumer.stdout().splitlines()
        if f"{built.downstream_env('URL')} is unset" in line
    ]
    assert len(notices) == 1, consumer.stdout()
    assert '"level":"WARN"' in notices[0]


@pytest.mark.parametrize(
    ("suffix", "value"),
    [
        ("URL", "ftp://pricing/v1/stocks"),
        ("MAX_ATTEMPTS", "0"),
        ("BREAKER_FAILURE_RATIO", "1.5"),
        ("ATTEMPT_TIMEOUT", "soon"),
    ],
)
def test_bad_downstream_configuration_is_one_line_and_exit_2(
    built: Built, suffix: str, value: str
) -> None:
    variable = built.downstream_env(suffix)
    env = {**os.environ, variable: value, "HTTP_ADDR": f"{LOOPBACK}:0"}
    result = run_tool([str(built.binary)], env=env, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], result.stderr
