"""Components, metrics: a real Prometheus (built from its Go module, see prometheus_tools)
scrapes a running generated service's admin /metrics while the same service pushes the
same metrics to Prometheus' OTLP receiver, under a short load of known answers.

One service and one Prometheus serve every test here (a module fixture); the tests read
what the load left, except the last, which adds a thousand ids and checks the series
count did not grow. The SLO rules from deploy/observability are loaded into that
Prometheus, and every PromQL expression of the rules and of the dashboard is evaluated
against it."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from dashboard_picture import PICTURE, draw
from gosvc.service import LOOPBACK, Service, free_port, wait_for
from prometheus_tools import Prometheus, promtool
from support import DEFAULTS, BuildSet, Built, run_tool

pytestmark = pytest.mark.components

DURATION = "http_server_request_duration_seconds"
# The dashboard's panels of requests (RED) must show data after the load.
RED_PANELS = {
    "Request rate by route",
    "Error ratio by route (5xx)",
    "Answers by status",
    "Latency p99 by route",
    "Latency p50 by route",
    "Requests in flight",
}


@dataclass
class Observed:
    built: Built
    service: Service
    prometheus: Prometheus
    job: str
    scraped: str  # the selector of the scraped series
    pushed: str  # the selector of the series pushed over OTLP
    answers: Counter[tuple[str, str, str]]  # (method, route, status) -> requests
    refused: int
    started: float  # when the load began
    loaded: float  # when Prometheus had all of it

    @property
    def project(self) -> Path:
        return self.built.project.path


def by_request(prometheus: Prometheus, selector: str) -> Counter[tuple[str, str, str]]:
    """Requests per (method, route, status) as Prometheus has them."""
    result = prometheus.query(
        f"sum by (http_request_method, http_route, http_response_status_code) "
        f"({DURATION}_count{{{selector}}})"
    )
    return Counter(
        {
            (
                item["metric"].get("http_request_method", ""),
                item["metric"].get("http_route", ""),
                item["metric"].get("http_response_status_code", ""),
            ): int(float(item["value"][1]))
            for item in result
        }
    )


def drive(service: Service, collection: str) -> tuple[Counter[tuple[str, str, str]], int]:
    """The load: each request's expected answer, counted by (method, route, status)."""
    answers: Counter[tuple[str, str, str]] = Counter()
    item = f"{collection}/{{id}}"

    def send(method: str, path: str, route: str, want: int, body: str | None = None) -> None:
        reply = service.request(method, path, body)
        assert reply.status == want, f"{method} {path}: {reply.status} {reply.body!r}"
        answers[(method, route, str(want))] += 1

    for i in range(20):
        send("POST", collection, collection, 201, json.dumps({"id": f"s-{i}", "quantity": 5}))
    for i in range(40):
        send("GET", f"{collection}/s-{i % 20}", item, 200)
    for i in range(10):
        send("GET", f"{collection}/missing-{i}", item, 404)
    refused = 6
    for _ in range(refused):  # more than on hand: the business rule refuses
        send(
            "POST",
            f"{collection}/s-0/reservations",
            f"{collection}/{{id}}/reservations",
            409,
            json.dumps({"quantity": 100}),
        )
    for _ in range(4):
        send("POST", collection, collection, 400, "{not json")
    for i in range(3):  # no route at all: counted without a route, never by path
        send("GET", f"/no/such/path/{i}", "", 404)
    # Then a steady load of 20 seconds (bounded, about 25 requests a second), so that the
    # dashboard's rates and the rules' ratios have something to rate.
    deadline = time.monotonic() + 20
    sent = 0
    while time.monotonic() < deadline:
        sent += 1
        send("GET", f"{collection}/s-{sent % 20}", item, 200)
        if sent % 5 == 0:
            send("GET", f"{collection}/missing-{sent}", item, 404)
        if sent % 7 == 0:
            send(
                "POST",
                f"{collection}/s-1/reservations",
                f"{collection}/{{id}}/reservations",
                409,
                json.dumps({"quantity": 100}),
            )
            refused += 1
        time.sleep(0.04)
    return answers, refused


@pytest.fixture(scope="module")
def observed(built_set: BuildSet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    built = built_set(DEFAULTS)
    work = tmp_path_factory.mktemp("metrics")
    job = built.project.service_name
    prometheus_port = free_port()
    service = Service(
        built.binary,
        log_dir=work,
        env={
            "OTEL_METRICS_EXPORTER": "prometheus,otlp",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": (
                f"http://{LOOPBACK}:{prometheus_port}/api/v1/otlp/v1/metrics"
            ),
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_TRACES_EXPORTER": "none",
            "GOMEMLIMIT": "512MiB",
            "DRAIN_DELAY": "0s",
            # A downstream nothing listens on: every call fails, the breaker opens, the
            # example serves its fallback (200, degraded), and the client metrics show it.
            built.downstream_env("URL"): f"http://{LOOPBACK}:{free_port()}",
            built.downstream_env("BREAKER_MIN_REQUESTS"): "3",
            built.downstream_env("RETRY_BACKOFF"): "10ms",
            built.downstream_env("RETRY_BACKOFF_MAX"): "20ms",
        },
    )
    prometheus: Prometheus | None = None
    try:
        service.wait_for_status("/readyz", 200)
        rules = work / "slo-rules.yaml"
        shutil.copy(built.project.path / "deploy" / "observability" / "slo-rules.yaml", rules)
        prometheus = Prometheus(
            work / "prometheus",
            scrape_jobs={job: [f"{LOOPBACK}:{service.admin_port}"]},
            rule_files=[rules],
            port=prometheus_port,
        )
        started = time.time()
        answers, refused = drive(service, built.collection)
        scraped = f'job="{job}", instance="{LOOPBACK}:{service.admin_port}"'
        # The OTLP receiver names the job after service.name; the instance is not the
        # scrape target's.
        pushed = f'job="{job}", instance!="{LOOPBACK}:{service.admin_port}"'
        total = sum(answers.values())
        for selector in (scraped, pushed):
            prometheus.wait_for_value(f"sum({DURATION}_count{{{selector}}})", total, timeout=60)
        loaded = time.time()
        yield Observed(
            built, service, prometheus, job, scraped, pushed, answers, refused, started, loaded
        )
    finally:
        service.stop()
        if prometheus is not None:
            prometheus.stop()


def test_scraped_red_series_carry_routes_and_exact_counts(observed: Observed) -> None:
    prometheus = observed.prometheus
    assert by_request(prometheus, observed.scraped) == observed.answers
    # Errors: the 4xx the load produced, each under its route; no 5xx.
    errors = prometheus.value(
        f'sum({DURATION}_count{{{observed.scraped}, http_response_status_code=~"4.."}})'
    )
    assert errors == sum(n for (_, _, status), n in observed.answers.items() if status[0] == "4")
    assert (
        prometheus.query(
            f'{DURATION}_count{{{observed.scraped}, http_response_status_code=~"5.."}}'
        )
        == []
    )
    # Latency quantiles come from the buckets, per route (over all the load: its series are
    # too new for a rate).
    buckets = f"{DURATION}_bucket{{{observed.scraped}}}"
    p99 = prometheus.query(f"histogram_quantile(0.99, sum by (le, http_route) ({buckets}))")
    assert {item["metric"].get("http_route", "") for item in p99} == {
        route for _, route, _ in observed.answers
    }
    assert all(0 < float(item["value"][1]) <= 10 for item in p99), p99
    assert prometheus.value(f'count({DURATION}_bucket{{{observed.scraped}, le="0.25"}})')


def test_business_downstream_and_runtime_metrics_are_scraped(observed: Observed) -> None:
    prometheus = observed.prometheus
    context = observed.built.project.values["context_name"]
    assert (
        prometheus.value(f"sum({context}_reservations_refused_total{{{observed.scraped}}})")
        == observed.refused
    )
    # The downstream is dead: its calls failed, and the breaker is open (2) or probing (1).
    downstream = f'downstream="{observed.built.downstream}"'
    state = prometheus.value(f"max(httpclient_breaker_state{{{observed.scraped}, {downstream}}})")
    assert state in (1.0, 2.0), state
    assert prometheus.value(
        f"sum(http_client_request_duration_seconds_count{{{observed.scraped}}})"
    )
    for runtime in ("go_goroutine_count", "go_memory_used_bytes", "go_processor_limit"):
        assert prometheus.value(f"sum({runtime}{{{observed.scraped}}})"), runtime
    assert prometheus.value(f"go_memory_limit_bytes{{{observed.scraped}}}") == 512 * 2**20


def test_otlp_push_delivers_the_same_series(observed: Observed) -> None:
    prometheus = observed.prometheus
    assert by_request(prometheus, observed.pushed) == observed.answers
    names = {
        item["metric"]["__name__"]
        for item in prometheus.query(f'{{{observed.scraped}, __name__=~"(http|go|httpclient)_.*"}}')
    }
    pushed = {
        item["metric"]["__name__"]
        for item in prometheus.query(f'{{{observed.pushed}, __name__=~"(http|go|httpclient)_.*"}}')
    }
    assert names == pushed, names ^ pushed


def dashboard_queries(project: Path) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of the dashboard, its variables filled in."""
    dashboard = json.loads((project / "deploy/observability/dashboard.json").read_text("utf-8"))
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def test_promtool_checks_the_rules_and_their_unit_tests_pass(
    observed: Observed, tmp_path: Path
) -> None:
    folder = observed.project / "deploy" / "observability"
    # The project's own target: promtool check rules, then promtool test rules.
    checked = run_tool(["make", "check-alerts", f"PROMTOOL={promtool()}"], cwd=observed.project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout, checked.stdout
    # The unit tests can fail: with a budget a hundred times larger the outage pages no one.
    copy = tmp_path / "observability"
    shutil.copytree(folder, copy)
    rules = copy / "slo-rules.yaml"
    text = rules.read_text(encoding="utf-8")
    assert "vector(0.001)" in text
    rules.write_text(text.replace("vector(0.001)", "vector(0.1)"), encoding="utf-8")
    broken = run_tool([str(promtool()), "test", "rules", "slo-rules.test.yaml"], cwd=copy)
    assert broken.returncode == 1
    assert "AvailabilityBudgetFastBurn" in broken.stdout + broken.stderr


def test_dashboard_picture_is_drawn_from_the_scrape(observed: Observed, tmp_path: Path) -> None:
    """The README's picture, four panels drawn from Prometheus (written into the template
    with COPIER_GO_SERVICE_UPDATE_PICTURE=1)."""
    out = tmp_path / "dashboard.png"
    title = f"{observed.job}: a real Prometheus scraping the admin listener under a short load"
    plotted = draw(
        observed.prometheus, observed.scraped, observed.started, observed.loaded, out, title
    )
    assert plotted >= 8, plotted  # routes, statuses and memory lines, not empty panels
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("COPIER_GO_SERVICE_UPDATE_PICTURE") == "1":
        PICTURE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, PICTURE)


def test_rules_load_evaluate_and_record_the_slis(observed: Observed) -> None:
    prometheus = observed.prometheus
    for expr in rule_expressions(observed.project):
        prometheus.query(expr)

    def evaluated() -> list[dict[str, Any]] | None:
        groups: list[dict[str, Any]] = prometheus.api("rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        # An unevaluated rule shows Go's zero time.
        done = rules and not any(rule["lastEvaluation"].startswith("0001") for rule in rules)
        return rules if done else None

    rules = wait_for(evaluated, timeout=30, what="every rule evaluated once")
    assert [rule["name"] for rule in rules if rule["health"] != "ok"] == []
    assert len(rules) == len(rule_expressions(observed.project))
    # The recorded SLIs have values: no 5xx, so an error ratio of 0 (not "no data").
    errors = prometheus.value(f'job:http_server_errors:ratio_rate5m{{job="{observed.job}"}}')
    assert errors == 0.0
    slow = prometheus.value(f'job:http_server_slow:ratio_rate5m{{job="{observed.job}"}}')
    assert slow is not None and 0.0 <= slow <= 1.0


def test_every_dashboard_query_evaluates_and_the_red_panels_show_data(observed: Observed) -> None:
    queries = dashboard_queries(observed.project)
    assert {title for title, _ in queries} >= RED_PANELS
    empty = []
    for title, expr in queries:
        filled = expr.replace("$job", observed.job).replace("$__rate_interval", "1m")
        result = observed.prometheus.query(filled)  # an error fails here
        if title in RED_PANELS and not result:
            empty.append(f"{title}: {filled}")
    assert not empty, "RED panels without data:\n" + "\n".join(empty)


def rule_expressions(project: Path) -> list[str]:
    rules = yaml.safe_load((project / "deploy/observability/slo-rules.yaml").read_text("utf-8"))
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_a_thousand_ids_add_no_series(observed: Observed) -> None:
    """Last: it adds requests the other tests do not expect."""
    prometheus = observed.prometheus
    selectors = (observed.scraped, observed.pushed)
    server = {sel: f'count({{{sel}, __name__=~"http_server_.*"}})' for sel in selectors}
    every = {sel: f"count({{{sel}}})" for sel in selectors}
    before = {sel: prometheus.value(expr) for sel, expr in server.items()}
    all_before = {sel: prometheus.value(expr) or 0 for sel, expr in every.items()}
    requests_before = prometheus.value(f"sum({DURATION}_count{{{observed.scraped}}})")
    assert requests_before is not None
    collection = observed.built.collection
    for i in range(1000):
        reply = observed.service.request(
            "POST", collection, json.dumps({"id": f"card-{i}", "quantity": 1})
        )
        assert reply.status == 201, reply.body
        reply = observed.service.request("GET", f"{collection}/card-{i}")
        assert reply.status == 200, reply.body
    for selector in (observed.scraped, observed.pushed):
        prometheus.wait_for_value(
            f"sum({DURATION}_count{{{selector}}})", requests_before + 2000, timeout=60
        )
    after = {sel: prometheus.value(expr) for sel, expr in server.items()}
    assert after == before
    # Elsewhere a counter may see its first increment (a new, bounded label set), but
    # nothing grows with the ids.
    for sel, expr in every.items():
        assert (prometheus.value(expr) or 0) - all_before[sel] < 20, sel
    ids = prometheus.query(
        f'count by (http_route) ({DURATION}_count{{{observed.scraped}, http_route=~".*card.*"}})'
    )
    assert ids == []
