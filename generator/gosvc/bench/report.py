"""The figures of `gosvc bench` as a table for people, JSON for machines, a PNG chart."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from gosvc.errors import ToolMissingError

MB = 1024 * 1024
WIDTH = 100  # the rows are this wide; the notes are wrapped to it
LABEL = 44  # the rows' names


def table(figures: dict[str, Any]) -> str:
    machine, load = figures["machine"], figures["load"]
    header = [
        f"gosvc bench: {figures['service']}, {figures['route']} over loopback",
        f"load: {machine['wrk']}, {load['threads']} threads, {load['connections']} connections, "
        f"{load['rounds']} rounds of {load['seconds']:g} s per server, alternating; "
        "each figure is the median of its rounds; req/s counts successful answers only "
        "(errors: answers that were not 2xx, e.g. 503 from load shedding)",
        f"machine: {machine['cpus']} CPUs, {machine['go']}, load average "
        f"{machine['load_average_start']:.1f} at the start and {machine['load_average_end']:.1f} "
        "at the end (anything else running lowers every figure, the ratios less so)",
    ]
    lines = [
        *(textwrap.fill(line, WIDTH, subsequent_indent="  ") for line in header),
        "",
        f"{'':<{LABEL}} {'req/s':>8} {'ratio':>5} {'(range)':>9} {'p50 ms':>6} {'p99 ms':>7} "
        f"{'idle RSS':>8} {'errors':>6}",
    ]
    for row in figures["targets"]:
        spread = f"{row['ratio_min']:.2f}-{row['ratio_max']:.2f}"
        lines.append(
            f"{row['label']:<{LABEL}} {row['requests_per_second']:>8,.0f} {row['ratio']:>5.2f} "
            f"{spread:>9} {row['p50_ms']:>6.2f} {row['p99_ms']:>7.2f} "
            f"{row['idle_rss_bytes'] / MB:>5.1f} MB {error_share(row):>6}"
        )
    lines += ["", *cpu_lines(figures["targets"])]
    offered = figures["targets"][0]["half_load"]["requests_per_second"]
    lines += [
        "",
        textwrap.fill(
            f"at half the baseline's maximum ({load['half_load_connections']} connections, "
            f"each pausing {load['half_load_delay_ms']} ms between requests; the baseline got "
            f"{offered:,.0f} req/s; medians of the rounds, and the range of the p99 ratio):",
            WIDTH,
        ),
        f"{'':<{LABEL}} {'req/s':>8} {'p50 ms':>6} {'p99 ms':>7} {'p99 / baseline p99':>19} "
        f"{'(range)':>9}",
    ]
    for row in figures["targets"]:
        half = row["half_load"]
        ratio, spread = "-", ""
        if half["p99_ratio"] is not None:
            ratio = f"{half['p99_ratio']:.2f}"
            spread = f"{half['p99_ratio_min']:.2f}-{half['p99_ratio_max']:.2f}"
        lines.append(
            f"{row['label']:<{LABEL}} {half['requests_per_second']:>8,.0f} {half['p50_ms']:>6.2f} "
            f"{half['p99_ms']:>7.2f} {ratio:>19} {spread:>9}"
        )
    startup = figures["startup_ms"]
    lines += [
        "",
        f"start-up, exec to /startupz 200: median {startup['median']:.1f} ms of "
        f"{len(startup['samples'])} (min {startup['min']:.1f}, max {startup['max']:.1f})",
        f"binary: {figures['binary_bytes'] / MB:.1f} MB as `make build` writes it, "
        f"{figures['binary_stripped_bytes'] / MB:.1f} MB stripped (-s -w, as the Dockerfile "
        "builds it)",
    ]
    copies = figures["copier_copy_seconds"]
    if copies is not None:
        lines.append(
            f"copier copy: {copies['without_tasks']:.1f} s without tasks, "
            f"{copies['with_tasks']:.1f} s with them (the checks; warm module cache)"
        )
    return "\n".join(lines)


def cpu_lines(rows: list[dict[str, Any]]) -> list[str]:
    """What a request cost each process in CPU time at maximum load: the server's over
    the baseline's is what the template adds, however the CPUs were shared."""
    lines = [
        textwrap.fill(
            "CPU time per request at maximum load, us (user + system, medians of the "
            "rounds); ratio: the server's over the baseline's in each round. wrk and, for "
            "the rows that export, Jaeger share the CPUs with the server, so a row's "
            "requests/s ratio is close to the baseline's server + wrk over the row's "
            "server + wrk + Jaeger:",
            WIDTH,
        ),
        f"{'':<{LABEL}} {'server':>8} {'ratio':>5} {'(range)':>9} {'wrk':>6} {'Jaeger':>7}",
    ]
    for row in rows:
        cpu = row["cpu_us_per_request"]
        ratio, spread = "-", ""
        if cpu["server_ratio"] is not None:
            ratio = f"{cpu['server_ratio']:.2f}"
            spread = f"{cpu['server_ratio_min']:.2f}-{cpu['server_ratio_max']:.2f}"
        jaeger = f"{cpu['jaeger']:.1f}" if cpu["jaeger"] is not None else "-"
        lines.append(
            f"{row['label']:<{LABEL}} {cpu['server']:>8.1f} {ratio:>5} {spread:>9} "
            f"{cpu['wrk']:>6.1f} {jaeger:>7}"
        )
    return lines


def error_share(row: dict[str, Any]) -> str:
    """Answers that were errors (go-zero sheds load with 503 when the CPU is busy)."""
    if not row["errors"]:
        return "0"
    share = 100 * row["errors"] / row["requests"]
    return f"{share:.1f}%" if share >= 0.05 else "<0.1%"


def write_json(figures: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


def require_matplotlib() -> None:
    """Fail before the bench, not after it, when --plot cannot draw."""
    try:
        import matplotlib  # noqa: F401 (an optional extra, needed by --plot only)
    except ImportError:
        raise ToolMissingError(
            "--plot needs matplotlib: pip install 'copier-go-service[plot]'"
        ) from None


def write_plot(figures: dict[str, Any], path: Path) -> None:
    """Two bar charts: requests/s as a ratio to the baseline, and p50/p99 latency."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = figures["targets"]
    labels = [row["label"].replace(", ", ",\n", 1) for row in rows]
    positions = list(range(len(rows)))
    figure, (ratios, latency) = plt.subplots(1, 2, figsize=(14, 5.5), layout="constrained")
    ratios.barh(positions, [row["ratio"] for row in rows], color="tab:blue")
    ratios.set_yticks(positions, labels, fontsize=8)
    ratios.invert_yaxis()
    ratios.axvline(1.0, color="grey", linewidth=0.8)
    ratios.set_xlabel("requests/s, ratio to the baseline (median of rounds)")
    for position, row in zip(positions, rows, strict=True):
        ratios.text(row["ratio"], position, f" {row['ratio']:.2f}", va="center", fontsize=8)
    height = 0.4
    latency.barh(
        [p - height / 2 for p in positions],
        [r["p50_ms"] for r in rows],
        height,
        label="p50",
        color="tab:green",
    )
    latency.barh(
        [p + height / 2 for p in positions],
        [r["p99_ms"] for r in rows],
        height,
        label="p99",
        color="tab:red",
    )
    latency.set_yticks(positions, [""] * len(rows))
    latency.invert_yaxis()
    latency.set_xlabel("latency at maximum load, ms")
    latency.legend()
    figure.suptitle(
        f"gosvc bench: {figures['service']}, {figures['route']} "
        f"(load average {figures['machine']['load_average_start']:.1f})"
    )
    figure.savefig(path, dpi=110)
    plt.close(figure)
