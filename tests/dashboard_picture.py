"""Draw the generated README's picture of the dashboard from a real Prometheus: four of the
dashboard's panels (requests per route, p99 latency per route, answers by status, memory
against its limit), queried over a time range with Prometheus' API and plotted with
matplotlib (a dev dependency).

The components test of the metrics draws it from what Prometheus scraped under its load;
with COPIER_GO_SERVICE_UPDATE_PICTURE=1 it also writes it to template/docs/dashboard.png,
the picture the template ships.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: draw straight to a file

import matplotlib.pyplot as plt
from prometheus_tools import Prometheus

DURATION = "http_server_request_duration_seconds"
PICTURE = Path(__file__).resolve().parent.parent / "template" / "docs" / "dashboard.png"


def panels(selector: str, window: str) -> list[tuple[str, str, str, str]]:
    """(title, PromQL, legend label, unit) of each panel drawn."""
    count = f"{DURATION}_count{{{selector}}}"
    memory = [
        (f"sum(go_memory_used_bytes{{{selector}}})", "used"),
        (f"max(go_memory_gc_goal_bytes{{{selector}}})", "GC goal"),
        (f"max(go_memory_limit_bytes{{{selector}}})", "GOMEMLIMIT"),
    ]
    return [
        (
            "Requests per second by route",
            f"sum by (http_request_method, http_route) (rate({count}[{window}]))",
            "{http_request_method} {http_route}",
            "req/s",
        ),
        (
            "Latency p99 by route",
            f"histogram_quantile(0.99, sum by (le, http_route) "
            f"(rate({DURATION}_bucket{{{selector}}}[{window}]))) * 1000",
            "{http_route}",
            "ms",
        ),
        (
            "Answers per second by status",
            f"sum by (http_response_status_code) (rate({count}[{window}]))",
            "{http_response_status_code}",
            "req/s",
        ),
        (
            "Go memory (MiB)",
            " or ".join(
                f'label_replace({expr} / 2^20, "series", "{name}", "", "")' for expr, name in memory
            ),
            "{series}",
            "MiB",
        ),
    ]


def legend(template: str, labels: dict[str, str]) -> str:
    text = template
    for key in ("http_request_method", "http_route", "http_response_status_code", "series"):
        text = text.replace(
            "{" + key + "}", labels.get(key, "") or ("(no route)" if key == "http_route" else "")
        )
    return text.strip()


def draw(
    prometheus: Prometheus, selector: str, start: float, end: float, out: Path, title: str
) -> int:
    """Draw the picture to `out`; returns how many series it plotted."""
    figure, axes = plt.subplots(2, 2, figsize=(12, 7), dpi=100)
    plotted = 0
    for ax, (panel_title, expr, label, unit) in zip(
        axes.flat, panels(selector, "10s"), strict=True
    ):
        result: list[dict[str, Any]] = prometheus.query_range(expr, start, end, "1s")
        for series in sorted(result, key=lambda item: legend(label, item["metric"])):
            times = [float(t) - start for t, _ in series["values"]]
            values = [float(v) for _, v in series["values"]]
            ax.plot(times, values, label=legend(label, series["metric"]), linewidth=1.4)
            plotted += 1
        ax.set_title(panel_title, fontsize=10)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("seconds", fontsize=8)
        ax.grid(alpha=0.3)
        if result:
            ax.legend(fontsize=7, loc="upper left")
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return plotted
