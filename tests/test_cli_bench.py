"""gosvc bench on a generated service: it measures every row and writes the figures.

Short runs (1 s of load, one round, three start-ups): the figures are printed, never held
against a threshold; what is asserted is that each one was measured and reported. The row
with the spans exported to a real Jaeger is tested in the components layer
(test_components_bench.py); here `--no-jaeger` leaves it out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import DEFAULTS, Project, RenderSet, gosvc

pytestmark = pytest.mark.cli

ROWS = ["baseline", "service", "service-quiet", "service-every-line", "service-livez", "go-zero"]


@pytest.fixture(scope="module")
def project(rendered_set: RenderSet) -> Project:
    return rendered_set(DEFAULTS)


def test_bench_measures_every_row_and_writes_json_and_a_chart(
    project: Project, tmp_path: Path
) -> None:
    figures_file, chart = tmp_path / "bench.json", tmp_path / "bench.png"
    result = gosvc(
        "bench", str(project.path), "--duration", "1", "--rounds", "1",
        "--startup-samples", "3", "--compare", "go-zero", "--no-jaeger",
        "--json", str(figures_file), "--plot", str(chart),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    print(out)  # the table, for -s
    # A progress line per run, then the table.
    for number in range(1, len(ROWS) + 1):
        assert f"[{number}/{len(ROWS)}] round 1: " in out, out
        assert f"[half load {number}/{len(ROWS)}] round 1: " in out, out
    assert "[start-up 3/3] exec to /startupz 200: " in out
    assert "[copier copy with tasks] " in out

    figures = json.loads(figures_file.read_text(encoding="utf-8"))
    rows = {row["key"]: row for row in figures["targets"]}
    assert list(rows) == ROWS
    assert figures["route"] == f"GET /v1/{project.values['aggregate_plural']}/{{id}}"
    for key, row in rows.items():
        assert row["label"] in out
        assert row["requests_per_second"] > 0, key
        assert 0 < row["p50_ms"] <= row["p99_ms"], key
        assert row["ratio"] > 0 and row["idle_rss_bytes"] > 0, key
        assert len(row["runs"]) == 1, key
        cpu = row["cpu_us_per_request"]
        assert cpu["server"] > 0 and cpu["wrk"] > 0 and len(cpu["runs"]) == 1, key
        assert cpu["jaeger"] is None, key  # nothing exports without Jaeger
        half = row["half_load"]
        assert half["requests_per_second"] > 0 and len(half["runs"]) == 1, key
        assert half["p99_ratio_min"] <= half["p99_ratio"] <= half["p99_ratio_max"], key
    assert rows["baseline"]["ratio"] == 1.0
    assert rows["baseline"]["cpu_us_per_request"]["server_ratio"] == 1.0
    assert "CPU time per request at maximum load" in out
    # Serving the example GET through the chain costs more CPU than the bare server's
    # fixed bytes do: the figure reads the right processes.
    assert rows["service"]["cpu_us_per_request"]["server_ratio"] > 1.0
    assert figures["jaeger_traces_found"] is None
    assert len(figures["startup_ms"]["samples"]) == 3
    assert figures["startup_ms"]["median"] > 0
    assert figures["binary_bytes"] > figures["binary_stripped_bytes"] > 0
    copies = figures["copier_copy_seconds"]
    assert copies["with_tasks"] > 0 and copies["without_tasks"] > 0
    assert figures["machine"]["cpus"] >= 1 and figures["machine"]["wrk"].startswith("wrk ")

    png = chart.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    # The project is left as it was: the binaries went to a scratch folder.
    assert not (project.path / "bin").exists()


def test_bench_refuses_a_folder_that_is_not_a_generated_service(tmp_path: Path) -> None:
    result = gosvc("bench", str(tmp_path), "--no-copy-times")
    assert result.returncode == 2
    assert "is not a generated service" in result.stderr
