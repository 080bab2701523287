"""gosvc bench's rows with spans exported over OTLP/HTTP to a real Jaeger (built from its
Go module and cached by gosvc.components), every span and as the prod overlay samples them:
the service is measured exporting, and Jaeger's query API then holds its traces. Figures
are printed, never asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import DEFAULTS, RenderSet, gosvc

pytestmark = pytest.mark.components


def test_bench_measures_the_service_exporting_to_jaeger(
    rendered_set: RenderSet, tmp_path: Path
) -> None:
    project = rendered_set(DEFAULTS)
    figures_file = tmp_path / "bench.json"
    result = gosvc(
        "bench", str(project.path), "--duration", "1", "--rounds", "1",
        "--startup-samples", "1", "--no-copy-times", "--json", str(figures_file),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
    figures = json.loads(figures_file.read_text(encoding="utf-8"))
    rows = {row["key"]: row for row in figures["targets"]}
    exporting = rows["service-jaeger"]
    assert exporting["label"] in result.stdout
    assert exporting["requests_per_second"] > 0 and 0 < exporting["p50_ms"] <= exporting["p99_ms"]
    assert exporting["half_load"]["requests_per_second"] > 0
    # Jaeger's CPU time is counted for the rows whose spans go to it, and only for them.
    assert exporting["cpu_us_per_request"]["jaeger"] > 0
    assert rows["service"]["cpu_us_per_request"]["jaeger"] is None
    # The row run as the prod overlay configures the service: its log level and sampling.
    prod = rows["service-prod"]
    assert prod["label"] == "service: as prod: log warn, 5% to Jaeger", prod["label"]
    assert prod["label"] in result.stdout
    assert prod["requests_per_second"] > 0 and prod["half_load"]["requests_per_second"] > 0
    # The spans really went out: Jaeger found the service's traces.
    assert figures["jaeger_traces_found"] > 0
    assert f"==> Jaeger holds {figures['jaeger_traces_found']}" in result.stdout
