"""Layer adversarial, under load: the built default service, driven by a load generator
in a process of its own (tests/loadgen; wrk for the long memory run), against a fake
downstream of known capacity. Overload with the limiter on and off, SIGTERM during
steady load, a downstream outage during load, and memory after 100k requests. Each test
reports its figures (requests, failures, latencies); they run one after the other on one
worker (their latencies would otherwise measure each other) and a few seconds each.

Latency bounds asserted here are behaviour, set far from the measured figures (a loaded CI
machine stretches every latency): a shed request is answered at once, an admitted one
does not wait for the overload to clear, a call to a dead downstream ends at its
deadline."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from adversarial_support import (
    BackgroundLoad,
    FakeDownstream,
    LoadReport,
    goroutines,
    otlp_receiver,
    rss_mib,
    run_load,
)
from delivery_tools import ensure_loadgen
from gosvc.service import LOOPBACK, Service, request, wait_for
from support import DEFAULTS, BuildSet, Built, Figure, Launch

pytestmark = [pytest.mark.adversarial, pytest.mark.xdist_group("adversarial-load")]


@pytest.fixture(scope="module")
def built(built_set: BuildSet) -> Built:
    return built_set(DEFAULTS)


@pytest.fixture(scope="module")
def loadgen() -> Path:
    return ensure_loadgen()


@pytest.fixture
def start(start: Launch, built: Built, tmp_path: Path) -> Launch:
    """conftest's `start`, the service seeded with sku-1 (10 on hand)."""
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps([{"id": "sku-1", "quantity": 10}]), encoding="utf-8")

    def launch(name: str, **env: str) -> Service:
        return start(name, **{built.seed_variable: str(seed), **env})

    return launch


@pytest.fixture
def downstreams(loadgen: Path) -> Iterator[Callable[..., FakeDownstream]]:
    started: list[FakeDownstream] = []

    def launch(**flags: object) -> FakeDownstream:
        downstream = FakeDownstream(loadgen, **flags)
        started.append(downstream)
        return downstream

    yield launch
    for downstream in started:
        downstream.stop()


@dataclass(frozen=True)
class Rig:
    """What a test under load drives: the built service, fake downstreams, the load
    generator."""

    built: Built
    start: Launch
    downstreams: Callable[..., FakeDownstream]
    loadgen: Path

    def start_behind(self, name: str, downstream: FakeDownstream, **env: str) -> Service:
        """Start the service with its downstream client pointed at `downstream`."""
        collection = downstream.collection(self.built.collection.split("/")[-1])
        return self.start(name, **env, **{self.built.downstream_env("URL"): collection})

    def item_url(self, service: Service) -> str:
        return f"http://{LOOPBACK}:{service.http_port}{self.built.collection}/sku-1"


@pytest.fixture
def rig(
    built: Built, start: Launch, downstreams: Callable[..., FakeDownstream], loadgen: Path
) -> Rig:
    return Rig(built, start, downstreams, loadgen)


def probe_latencies(service: Service, stop: threading.Event, seen: list[tuple[int, float]]) -> None:
    """Ask /livez and /readyz, and the admin listener's /buildinfo, every 100ms until
    stopped: (status, seconds) of each."""
    while not stop.is_set():
        for port, path in (
            (service.http_port, "/livez"),
            (service.http_port, "/readyz"),
            (service.admin_port, "/buildinfo"),
        ):
            began = time.monotonic()
            status = request(port, "GET", path, timeout=5).status
            seen.append((status, time.monotonic() - began))
        stop.wait(0.1)


# The fake downstream serves 16 requests at once in 100ms each: the service behind it
# sustains 160 requests/s. Offered: 800/s, five times that, after a warm-up at half of it.
CAPACITY_RPS = 160
OFFERED_RPS = 5 * CAPACITY_RPS


def overload_run(rig: Rig, enabled: str) -> tuple[LoadReport, list[tuple[int, float]], str]:
    """The warm-up and the overload; returns the overload's report, the probes' answers
    and the admin listener's /metrics after it."""
    service = rig.start_behind(
        f"overload-{enabled}",
        rig.downstreams(delay="100ms", concurrency=16),
        OVERLOAD_ENABLED=enabled,
        OTEL_METRICS_EXPORTER="prometheus",
        DRAIN_DELAY="0s",
    )
    url = rig.item_url(service)
    warm = run_load(rig.loadgen, url, rate=CAPACITY_RPS // 2, duration="2s", concurrency=200)
    assert set(warm.statuses) == {200}, warm.summary()
    probes: list[tuple[int, float]] = []
    stop = threading.Event()
    prober = threading.Thread(target=probe_latencies, args=(service, stop, probes))
    prober.start()
    try:
        report = run_load(rig.loadgen, url, rate=OFFERED_RPS, duration="4s", concurrency=4000)
    finally:
        stop.set()
        prober.join()
    metrics = request(service.admin_port, "GET", "/metrics")
    assert metrics.status == 200, metrics.body
    return report, probes, metrics.body.decode()


def prometheus_sum(exposition: str, name: str) -> float:
    """The sum of a metric's samples in a Prometheus text exposition."""
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", re.MULTILINE)
    values = [float(value) for value in pattern.findall(exposition)]
    assert values, f"no {name} in /metrics"
    return sum(values)


def test_overload_sheds_the_excess_and_keeps_admitted_latency_bounded(
    rig: Rig, figure: Figure
) -> None:
    on, probes_on, metrics_on = overload_run(rig, "true")
    off, probes_off, _ = overload_run(rig, "false")
    shed, limit = (prometheus_sum(metrics_on, n) for n in ("overload_shed_total", "overload_limit"))
    figure(f"capacity {CAPACITY_RPS}/s, offered {OFFERED_RPS}/s for 4s after a 2s warm-up")
    figure(f"limiter on:  {on.summary()}")
    figure(f"limiter off: {off.summary()}")
    for name, probes in (("on", probes_on), ("off", probes_off)):
        worst = max(seconds for _, seconds in probes) * 1000
        figure(f"probes and admin with the limiter {name}: {len(probes)}, slowest {worst:.1f} ms")
    figure(
        f"/metrics after the overload: overload_shed_total {shed:.0f}, overload_limit {limit:.0f}"
    )

    # On: the excess is shed with 503 + Retry-After, nothing fails otherwise, and the
    # requests admitted are answered long before those of the unprotected service.
    assert on.errors == {} and off.errors == {}, (on.errors, off.errors)
    assert set(on.statuses) == {200, 503}, on.summary()
    assert on.statuses[503] > on.sent // 3, on.summary()
    assert on.raw["retry_after"] == {"1": on.statuses[503]}, on.raw["retry_after"]
    # Shed within OVERLOAD_MAX_WAIT (100ms) and admitted within a few service times, plus
    # what a machine busy with other tests adds.
    assert on.p99(503) < 2000, on.summary()
    assert on.p99(200) < 2000, on.summary()
    # Off: everything is admitted and waits in line behind the downstream.
    assert set(off.statuses) == {200}, off.summary()
    assert off.latency(200)["p50"] > on.latency(200)["p50"], (on.summary(), off.summary())
    assert off.p99(200) > on.p99(200), (on.summary(), off.summary())
    # The limit and the shed count are metrics (the warm-up shed nothing).
    assert shed == on.statuses[503], (shed, on.statuses)
    assert 20 <= limit <= 1000, limit  # within OVERLOAD_MIN_LIMIT and OVERLOAD_MAX_LIMIT
    # The probes and the admin listener are never shed.
    assert {status for status, _ in probes_on} == {200}, probes_on


def test_sigterm_under_load_fails_no_request_and_exports_every_span(
    rig: Rig, figure: Figure
) -> None:
    drain, shutdown = 1.0, 5.0
    downstream = rig.downstreams(delay="50ms", concurrency=200)
    with otlp_receiver() as (endpoint, spans):
        service = rig.start_behind(
            "sigterm",
            downstream,
            DRAIN_DELAY=f"{drain:.0f}s",
            SHUTDOWN_TIMEOUT=f"{shutdown:.0f}s",
            HTTP_WRITE_TIMEOUT="5s",
            HTTP_REQUEST_TIMEOUT="4s",
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_BSP_SCHEDULE_DELAY="200",
            # About shutdown, not overload: a scheduling hiccup of a loaded machine must not
            # get requests shed (the overload test covers that).
            OVERLOAD_MIN_LIMIT="500",
            OVERLOAD_INITIAL_LIMIT="500",
        )
        load = BackgroundLoad(
            rig.loadgen,
            rig.item_url(service),
            rate=300,
            duration="30s",
            concurrency=1000,
            ready=f"http://{LOOPBACK}:{service.http_port}/readyz",
        )
        try:
            time.sleep(3)
            began = time.monotonic()
            service.terminate()
            code = service.wait(timeout=drain + shutdown + 10)
            took = time.monotonic() - began
            report = load.report()
        finally:
            load.stop()
        server_spans = sum(spans.server().values())

    ready = report.raw["ready"]
    figure(f"load: {report.summary()}")
    figure(
        f"SIGTERM after 3s: readiness {ready['failed_status']} at {ready['failed_after_s']:.2f}s, "
        f"listener refused at {ready['refused_after_s']:.2f}s, exit {code} after {took:.2f}s "
        f"(DRAIN_DELAY {drain:.0f}s + SHUTDOWN_TIMEOUT {shutdown:.0f}s)"
    )
    answered = sum(report.statuses.values())
    figure(f"server spans exported: {server_spans} for {answered} answers")
    assert code == 0, service.stderr()
    assert report.errors == {}, report.raw["error_examples"]
    assert set(report.statuses) == {200}, report.summary()
    assert report.sent > 500, report.summary()
    assert ready["failed_status"] == 503
    assert 0 < ready["failed_after_s"] < ready["refused_after_s"], ready
    assert took < drain + shutdown, took
    assert server_spans == answered, spans.server()


def test_downstream_outage_keeps_latency_bounded_and_goroutines_return(
    rig: Rig, figure: Figure
) -> None:
    # Answers for 2s, then holds every request until its client gives up.
    downstream = rig.downstreams(delay="5ms", concurrency=64, hang_after="2s")
    timeout = 3.0  # the client's default bound on a whole call (PRICING_TIMEOUT)
    service = rig.start_behind("outage", downstream, PPROF_ENABLED="true", DRAIN_DELAY="0s")
    before = goroutines(service.admin_port)
    report = run_load(rig.loadgen, rig.item_url(service), rate=100, duration="6s", concurrency=1000)
    during = goroutines(service.admin_port)

    def settled() -> int | None:
        count = goroutines(service.admin_port)
        return count if count <= before + 2 else None

    try:
        after = wait_for(settled, timeout=15, what="the goroutine count to return")
    except TimeoutError:
        after = goroutines(service.admin_port)
    figure(f"load: {report.summary()}")
    figure(f"goroutines: {before} before, {during} at the end of the load, {after} after")
    assert report.errors == {}, report.raw["error_examples"]
    # Answered from the fallback (degraded), or, while calls hang until their deadline and
    # pile up, shed by the concurrency limit: never a failure of the service itself.
    assert set(report.statuses) <= {200, 503}, report.summary()
    assert report.raw["retry_after"].get("1", 0) == report.statuses.get(503, 0), report.raw
    assert report.latency(200)["max"] < (timeout + 2) * 1000, report.summary()
    assert after <= before + 2, (before, during, after)


def test_rss_after_100k_requests_returns_near_its_post_start_level(
    rig: Rig, figure: Figure
) -> None:
    """100k requests over 16 keep-alive connections (loadgen: wrk cannot stop after a
    count), in two parts: the first 20k grow the heap to what this load needs, the other
    80k must not grow it further."""
    service = rig.start("memory", DRAIN_DELAY="0s")
    url = rig.item_url(service)
    for _ in range(10):  # the first requests allocate what every later one reuses
        assert request(service.http_port, "GET", f"{rig.built.collection}/sku-1").status == 200
    post_start = rss_mib(service.process.pid)
    warm = run_load(rig.loadgen, url, requests=20_000, concurrency=16, duration="120s", timeout=180)
    after_warm = rss_mib(service.process.pid)
    rest = run_load(rig.loadgen, url, requests=80_000, concurrency=16, duration="300s", timeout=360)
    after_all = rss_mib(service.process.pid)
    figure(f"first 20k: {warm.summary()}")
    figure(f"next 80k: {rest.summary()}")
    figure(
        f"RSS: {post_start:.1f} MiB after start, {after_warm:.1f} MiB after 20k requests, "
        f"{after_all:.1f} MiB after 100k"
    )
    for report in (warm, rest):
        assert report.errors == {} and set(report.statuses) == {200}, report.summary()
    assert warm.sent + rest.sent == 100_000
    # A leak of 64 bytes a request would add 5 MiB over the last 80k.
    assert after_all - after_warm < 5, (post_start, after_warm, after_all)
    assert after_all - post_start < 16, (post_start, after_warm, after_all)
    service.process.send_signal(signal.SIGTERM)
    assert service.wait() == 0, service.stderr()
