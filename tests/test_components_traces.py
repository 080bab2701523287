"""Layer 4, real components: traces of two generated services in a real Jaeger.

Jaeger is the pinned release built from its Go module (gosvc.components: built once,
cached by version and Go version) and started on free loopback ports with in-memory
storage. The consumer (the default service, its downstream URL pointing at the second
one's API) and the downstream export over OTLP, both over HTTP or both over gRPC; the test
reads Jaeger's HTTP query API and checks one trace holds both services' spans with the
right parent/child links, that a log line of the request carries the trace id Jaeger
shows, and that killing Jaeger mid-run costs requests no latency and logs one warning.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gosvc.components import Jaeger, running_jaeger
from gosvc.service import LOOPBACK, Service, free_port, wait_for
from support import DEFAULTS, BuildSet, Built, Launch

pytestmark = pytest.mark.components

CONSUMER = "consumer-svc"
DOWNSTREAM = "downstream-svc"


@pytest.fixture(scope="module")
def built(built_set: BuildSet) -> Built:
    return built_set(DEFAULTS)


@pytest.fixture
def jaeger(tmp_path: Path) -> Iterator[Jaeger]:
    with running_jaeger(print, workdir=tmp_path / "jaeger") as running:
        yield running


def otlp_env(jaeger: Jaeger, protocol: str, service_name: str) -> dict[str, str]:
    endpoint = jaeger.otlp_grpc if protocol == "grpc" else jaeger.otlp_http
    return {
        "OTEL_SERVICE_NAME": service_name,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "DRAIN_DELAY": "0s",
    }


def seed(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return str(path)


def start_pair(
    built: Built, start: Launch, jaeger: Jaeger, protocol: str, tmp_path: Path
) -> tuple[Service, Service]:
    port = free_port()
    downstream = start(
        "downstream",
        http_port=port,
        **otlp_env(jaeger, protocol, DOWNSTREAM),
        **{built.seed_variable: seed(tmp_path, "downstream", [{"id": "sku-1", "quantity": 4}])},
    )
    consumer = start(
        "consumer",
        **otlp_env(jaeger, protocol, CONSUMER),
        **{built.seed_variable: seed(tmp_path, "consumer", [{"id": "sku-1", "quantity": 10}])},
        **{built.downstream_env("URL"): f"http://{LOOPBACK}:{port}{built.collection}"},
    )
    return consumer, downstream


def json_lines(service: Service) -> list[dict[str, Any]]:
    return [json.loads(line) for line in service.stdout().splitlines() if line.startswith("{")]


def tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span.get("tags", [])}


def parent_id(span: dict[str, Any]) -> str | None:
    for ref in span.get("references", []):
        if ref.get("refType") == "CHILD_OF":
            return str(ref["spanID"])
    return None


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_one_trace_spans_both_services(
    protocol: str, built: Built, start: Launch, jaeger: Jaeger, tmp_path: Path
) -> None:
    consumer, downstream = start_pair(built, start, jaeger, protocol, tmp_path)
    response = consumer.request("GET", f"{built.collection}/sku-1")
    assert response.status == 200, response.body
    assert response.json()["degraded"] is False, response.body

    # The request's access log line names its trace: look that trace up in Jaeger.
    lines = [
        line
        for line in json_lines(consumer)
        if line.get("msg") == "request" and line.get("pattern", "").endswith("/{id}")
    ]
    assert len(lines) == 1, consumer.stdout()
    trace_id = lines[0]["trace_id"]
    assert len(trace_id) == 32, lines[0]

    def whole_trace() -> dict[str, Any] | None:
        found = jaeger.trace(trace_id)
        services = {p["serviceName"] for p in (found or {}).get("processes", {}).values()}
        spans = (found or {}).get("spans", [])
        servers = [s for s in spans if tags(s).get("span.kind") == "server"]
        return found if {CONSUMER, DOWNSTREAM} <= services and len(servers) == 2 else None

    found = wait_for(whole_trace, timeout=30, what=f"trace {trace_id} from both services in Jaeger")
    processes = {key: p["serviceName"] for key, p in found["processes"].items()}
    spans = {s["spanID"]: s for s in found["spans"]}
    by_kind: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for span in spans.values():
        key = (processes[span["processID"]], tags(span).get("span.kind", ""))
        by_kind.setdefault(key, []).append(span)

    (consumer_server,) = by_kind[(CONSUMER, "server")]
    (downstream_server,) = by_kind[(DOWNSTREAM, "server")]
    clients = by_kind[(CONSUMER, "client")]
    assert consumer_server["operationName"] == f"GET {built.collection}/{{id}}"
    assert tags(consumer_server)["http.route"] == f"{built.collection}/{{id}}"
    assert tags(consumer_server)["http.response.status_code"] == 200
    assert parent_id(consumer_server) is None  # the root: the test sent no traceparent

    # server -> (use case) -> client attempt -> downstream server, all in this one trace
    (attempt,) = clients
    chain = []
    link: dict[str, Any] | None = downstream_server
    while link is not None:
        chain.append(link)
        parent = parent_id(link)
        link = spans.get(parent) if parent else None
    assert chain[0] is downstream_server and chain[-1] is consumer_server, chain
    assert parent_id(downstream_server) == attempt["spanID"]
    context = built.project.values["context_name"]
    use_case = spans[str(parent_id(attempt))]
    assert use_case["operationName"] == f"{context}.{built.project.values['aggregate_type']}Detail"
    assert parent_id(use_case) == consumer_server["spanID"]
    assert [s["operationName"] for s in chain[1:-1]] == [
        attempt["operationName"],
        use_case["operationName"],
    ]
    assert tags(use_case)[f"{context}.outcome"] == "ok"
    assert tags(use_case)[f"{context}.{built.project.values['aggregate_name']}.id"] == "sku-1"
    assert tags(attempt)["httpclient.attempt"] == 1
    assert tags(attempt)["httpclient.breaker.state"] == "closed"
    assert downstream_server["operationName"] == f"GET {built.collection}/{{id}}"
    print(
        f"{protocol}: trace {trace_id}: "
        + " -> ".join(f"{processes[s['processID']]}:{s['operationName']}" for s in reversed(chain))
    )
    # A business rule's refusal is an event on the use case's span, not an error.
    refused = consumer.request("POST", f"{built.collection}/sku-1/reservations", '{"quantity": 99}')
    assert refused.status == 409, refused.body
    refusal_line = json_lines(consumer)[-1]
    assert refusal_line.get("status") == 409, refusal_line
    refusal = wait_for(
        lambda: jaeger.trace(refusal_line["trace_id"]), timeout=30, what="the refusal's trace"
    )
    (reserve,) = [
        s
        for s in refusal["spans"]
        if s["operationName"].endswith(".Reserve" + built.project.values["aggregate_type"])
    ]
    assert tags(reserve)[f"{context}.outcome"] == "insufficient_quantity", tags(reserve)
    assert "error" not in tags(reserve), tags(reserve)
    assert [log["fields"] for log in reserve["logs"]], reserve
    events = {
        field["value"]
        for log in reserve["logs"]
        for field in log["fields"]
        if field["key"] == "event"
    }
    assert events == {"refused"}, reserve["logs"]

    # The line the downstream logged for the same request is in the same trace.
    downstream_lines = [line for line in json_lines(downstream) if line.get("msg") == "request"]
    assert any(line.get("trace_id") == trace_id for line in downstream_lines), downstream.stdout()


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def test_killing_jaeger_costs_no_latency_and_one_warning(
    built: Built, start: Launch, jaeger: Jaeger, tmp_path: Path
) -> None:
    consumer, _ = start_pair(built, start, jaeger, "http/protobuf", tmp_path)
    path = f"{built.collection}/sku-1"

    def timed(seconds: float) -> list[float]:
        latencies = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            began = time.perf_counter()
            response = consumer.request("GET", path)
            latencies.append(time.perf_counter() - began)
            assert response.status == 200, response.body
        return latencies

    before = timed(4)
    wait_for(lambda: jaeger.traces(CONSUMER) or None, timeout=30, what="the consumer's traces")
    jaeger.kill()
    after = timed(8)  # export fails every 100 ms batch the whole time
    print(
        f"p99 before killing Jaeger {p99(before) * 1000:.1f} ms ({len(before)} requests), "
        f"after {p99(after) * 1000:.1f} ms ({len(after)} requests)"
    )
    warnings = [line for line in json_lines(consumer) if line.get("msg") == "opentelemetry"]
    # One line for the first failure; the next may come only 30 s later.
    assert len(warnings) == 1, warnings
    assert warnings[0]["level"] == "WARN"
