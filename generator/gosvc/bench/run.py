"""The measurements of `gosvc bench`, one after the other, with a progress line each.

The load runs alternate between the servers (a round is one run of each), so a change in
the machine's load during the bench touches every server alike; each figure is the median
of its rounds, and each ratio is taken within a round.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

import yaml

from gosvc import components
from gosvc.bench import servers, wrk
from gosvc.bench.process import LOOPBACK, Server, cpu_seconds, get, post
from gosvc.errors import GosvcError, InputError
from gosvc.service import free_port
from gosvc.template import TemplateSource

# The example record the bench creates and then reads, as the example's API takes it.
RECORD = {"id": "bench-1", "quantity": 10}
# The only settings the bench chooses; everything else is the service's default.
DEFAULTS_ENV = {"LOG_LEVEL": "info"}
QUIET_ENV = {"LOG_LEVEL": "warn", "OTEL_SDK_DISABLED": "true"}
# The defaults sample repeated info lines (the first 100 of a message each second, then
# one in 100), so at full load few access log lines are written; this row writes them all.
EVERY_LINE_ENV = {**DEFAULTS_ENV, "LOG_SAMPLE_FIRST": "0"}
# What the row "as the prod overlay runs it" takes from deploy/kustomize (base, then the
# prod overlay's literals over it): the log level and the sampler, the settings that decide
# what a request pays for in production. The overlay's collector address is replaced by the
# local Jaeger's.
PROD_SETTINGS = ("LOG_LEVEL", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")
# Per-connection pause of the half-load runs: long against a loopback answer, so the
# offered rate is close to connections / delay.
HALF_LOAD_DELAY_MS = 5

Run = TypeVar("Run")  # what one run measured: a wrk.Result, a CpuUse


@dataclass(frozen=True)
class Options:
    path: Path
    source: TemplateSource
    load: wrk.Load
    rounds: int
    startup_samples: int
    compare: tuple[str, ...]  # other servers to measure: "go-zero"
    jaeger: bool  # a row with the spans exported to a local Jaeger
    copy_times: bool
    out: TextIO = sys.stdout


@dataclass(frozen=True)
class ServiceProject:
    path: Path
    name: str
    collection: str  # /v1/stocks
    record_pattern: str  # /v1/stocks/{id}

    @property
    def record_path(self) -> str:
        return f"{self.collection}/{RECORD['id']}"


@dataclass(frozen=True)
class CpuUse:
    """The CPU time, in microseconds per request, that one maximum-load run cost the
    server, wrk and Jaeger (None for a run whose spans do not go to Jaeger)."""

    server_us: float
    wrk_us: float
    jaeger_us: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"server": self.server_us, "wrk": self.wrk_us, "jaeger": self.jaeger_us}


@dataclass
class Target:
    """One row of the table: a server process and the path the load goes to."""

    key: str
    label: str
    start: Callable[[int, Path], Server]
    path: str
    exports: bool = False  # its spans go to the local Jaeger
    server: Server | None = None
    idle_rss_bytes: int = 0
    runs: list[wrk.Result] = field(default_factory=list)
    cpu: list[CpuUse] = field(default_factory=list)  # one per run
    half_loads: list[wrk.Result] = field(default_factory=list)

    def url(self) -> str:
        assert self.server is not None
        return f"http://{LOOPBACK}:{self.server.port}{self.path}"


def prod_settings(project: Path) -> dict[str, str] | None:
    """PROD_SETTINGS as the project's prod overlay sets them; None without the overlay."""
    kustomize = project / "deploy" / "kustomize"
    settings: dict[str, str] = {}
    for layer in (kustomize / "base", kustomize / "overlays" / "prod"):
        file = layer / "kustomization.yaml"
        if not file.is_file():
            return None
        document = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for generator in document.get("configMapGenerator") or []:
            for literal in generator.get("literals") or []:
                name, _, value = str(literal).partition("=")
                if name in PROD_SETTINGS:
                    settings[name] = value
    return settings


def describe_settings(settings: Mapping[str, str]) -> str:
    """The row's label's account of the settings: "log warn, 5% to Jaeger"."""
    parts = []
    if "LOG_LEVEL" in settings:
        parts.append(f"log {settings['LOG_LEVEL']}")
    sampler = settings.get("OTEL_TRACES_SAMPLER", "")
    ratio = settings.get("OTEL_TRACES_SAMPLER_ARG")
    if sampler.endswith("traceidratio") and ratio is not None:
        parts.append(f"{float(ratio) * 100:g}% to Jaeger")
    elif sampler:
        parts.append(f"{sampler} to Jaeger")
    return ", ".join(parts)


def read_project(path: Path) -> ServiceProject:
    answers_file = path / ".copier-answers.yml"
    if not answers_file.is_file() or not (path / "go.mod").is_file():
        raise InputError(f"{path} is not a generated service (no .copier-answers.yml or go.mod)")
    answers = yaml.safe_load(answers_file.read_text(encoding="utf-8")) or {}
    name = answers.get("service_name")
    if not isinstance(name, str) or not (path / "cmd" / name).is_dir():
        raise InputError(f"{answers_file} names no service with a cmd/<service_name> folder")
    spec = path / "api" / "openapi.yaml"
    paths = (yaml.safe_load(spec.read_text(encoding="utf-8")) or {}).get("paths", {})
    for pattern, operations in paths.items():
        match = re.fullmatch(r"(/v1/[^/{}]+)/\{[^/{}]+\}", pattern)
        if match and "get" in (operations or {}):
            return ServiceProject(path, name, match.group(1), pattern)
    raise InputError(
        f"{spec} has no GET /v1/<collection>/{{id}}: the bench measures the example API's "
        "GET of one record, so the service needs the example (example_domain=true)"
    )


def bench(options: Options, scratch: Path) -> dict[str, Any]:
    """Run every measurement; the figures, as `--json` writes them."""
    out = options.out
    project = read_project(options.path)
    wrk.wrk()  # a missing wrk fails now, not after the builds
    load_at_start = os.getloadavg()
    say(out, f"==> Building {project.name} (make build) and the net/http baseline")
    binary, stripped = build_service(project, scratch)
    baseline = servers.build_baseline(scratch)
    gozero = None
    if "go-zero" in options.compare:
        say(out, f"==> go-zero {servers.GOZERO_VERSION} (built once, then cached)")
        gozero = servers.gozero_binary()

    body_file = scratch / "body.json"
    with contextlib.ExitStack() as stack:
        jaeger = stack.enter_context(local_jaeger(scratch, out)) if options.jaeger else None
        otlp = jaeger.otlp_http if jaeger is not None else None
        targets = make_targets(project, binary, baseline, gozero, otlp, body_file)
        try:
            start_all(targets, project, body_file, scratch, out)
            jaeger_pid = jaeger.process.pid if jaeger is not None else None
            measure_rounds(targets, options, scratch, jaeger_pid)
            half_load = measure_half_load(targets, options, scratch)
            traces = exported_traces(jaeger, project.name, out) if jaeger is not None else None
        finally:
            for target in targets:
                if target.server is not None:
                    target.server.stop()
    startup = measure_startup(binary, options.startup_samples, scratch, out)
    copies = measure_copies(project, options, scratch) if options.copy_times else None
    result = figures(
        project, options, targets, half_load, startup, binary, stripped, copies, load_at_start
    )
    result["jaeger_traces_found"] = traces
    return result


@contextlib.contextmanager
def local_jaeger(scratch: Path, out: TextIO) -> Iterator[components.Jaeger]:
    """The Jaeger the template's component tests use: built once from its Go module,
    cached, started on free loopback ports with in-memory storage."""
    say(out, f"==> Jaeger {components.JAEGER_VERSION} (built once from its Go module, then cached)")
    try:
        with components.running_jaeger(
            lambda line: say(out, f"    {line}"), workdir=scratch / "jaeger"
        ) as jaeger:
            yield jaeger
    except components.ComponentUnavailable as error:
        raise GosvcError(f"Jaeger: {error} (--no-jaeger leaves its row out)") from error


def exported_traces(jaeger: components.Jaeger, service: str, out: TextIO) -> int:
    """How many traces of the service Jaeger's query API finds (at most 100 are asked for):
    the row measured a service whose spans really went out."""
    found = len(jaeger.traces(service, limit=100))
    say(out, f"==> Jaeger holds {found}{'+' if found == 100 else ''} traces of {service}")
    if not found:
        raise GosvcError(f"Jaeger received no trace of {service}: the export row measured nothing")
    return found


def say(out: TextIO, line: str) -> None:
    print(line, file=out, flush=True)


def build_service(project: ServiceProject, scratch: Path) -> tuple[Path, Path]:
    """The service as its own `make build` builds it, and as the Dockerfile does (-s -w).

    Both go to the scratch folder: the bench leaves the project untouched."""
    binary = scratch / project.name
    stripped = scratch / f"{project.name}-stripped"
    for target, extra in ((binary, []), (stripped, ["LDFLAGS=-s -w"])):
        result = subprocess.run(
            ["make", "build", f"BIN={target}", *extra],
            cwd=project.path,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not target.is_file():
            raise GosvcError(f"make build failed in {project.path}: {result.stderr[-2000:]}")
    return binary, stripped


def service_env(port: int, extra: Mapping[str, str]) -> dict[str, str]:
    return {"HTTP_ADDR": f"{LOOPBACK}:{port}", "ADMIN_ADDR": f"{LOOPBACK}:{free_port()}", **extra}


def clean_environment() -> None:
    """The bench's own OTEL_* or LOG_LEVEL would change what each row measures."""
    for name in list(os.environ):
        if name.startswith("OTEL_") or name == "LOG_LEVEL":
            del os.environ[name]


def make_targets(
    project: ServiceProject,
    binary: Path,
    baseline: Path,
    gozero: Path | None,
    otlp_endpoint: str | None,
    body_file: Path,
) -> list[Target]:
    def service(env: Mapping[str, str]) -> Callable[[int, Path], Server]:
        def start(port: int, log: Path) -> Server:
            return Server([str(binary)], service_env(port, env), port, log)

        return start

    def helper(argv: list[str], route: str) -> Callable[[int, Path], Server]:
        def start(port: int, log: Path) -> Server:
            command = [*argv, "-addr", f"{LOOPBACK}:{port}", "-route", route]
            return Server([*command, "-body", str(body_file)], {}, port, log)

        return start

    record = project.record_path
    targets = [
        Target(
            "baseline",
            "baseline: bare net/http, same bytes",
            helper([str(baseline)], f"GET {project.record_pattern}"),
            record,
        ),
        Target(
            "service",
            "service: defaults (log, spans, no export)",
            service(DEFAULTS_ENV),
            record,
        ),
        Target(
            "service-quiet",
            "service: telemetry and access log off",
            service(QUIET_ENV),
            record,
        ),
        Target(
            "service-every-line",
            "service: defaults, every access log line",
            service(EVERY_LINE_ENV),
            record,
        ),
    ]
    if otlp_endpoint is not None:
        exporting = {
            **DEFAULTS_ENV,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        }
        label = "service: defaults, spans to Jaeger"
        targets.append(Target("service-jaeger", label, service(exporting), record, exports=True))
        prod = prod_settings(project.path)
        if prod is not None:
            label = f"service: as prod: {describe_settings(prod)}"
            env = {**exporting, **prod}
            targets.append(Target("service-prod", label, service(env), record, exports=True))
    targets += [
        Target("service-livez", "service: defaults, GET /livez", service(DEFAULTS_ENV), "/livez"),
    ]
    if gozero is not None:
        route = re.sub(r"\{([^/{}]+)\}", r":\1", project.record_pattern)
        targets.append(
            Target(
                "go-zero",
                f"go-zero {servers.GOZERO_VERSION}: its defaults, no request log",
                helper([str(gozero)], route),
                record,
            )
        )
    return targets


def start_all(
    targets: list[Target], project: ServiceProject, body_file: Path, scratch: Path, out: TextIO
) -> None:
    """Start every server, the services first: the baseline serves their answer's bytes."""
    services = [t for t in targets if t.key.startswith("service")]
    for target in services:
        start_one(target, scratch, "/startupz")
        assert target.server is not None
        status, body = post(target.server.port, project.collection, json.dumps(RECORD))
        if status != 201:
            raise GosvcError(f"POST {project.collection} answered {status}: {body[:300]!r}")
    first = services[0].server
    assert first is not None
    answer = get(first.port, project.record_path)
    if answer is None or answer[0] != 200:
        raise GosvcError(f"GET {project.record_path} did not answer 200: {answer}")
    body_file.write_bytes(answer[1])
    for target in targets:
        if target.server is None:
            start_one(target, scratch, target.path)
    time.sleep(1.0)  # let start-up garbage settle before the idle figure
    for target in targets:
        assert target.server is not None
        target.idle_rss_bytes = target.server.rss_bytes()
    say(out, f"==> {len(targets)} servers up; the example record is {len(answer[1])} bytes")


def start_one(target: Target, scratch: Path, ready_path: str) -> None:
    port = free_port()
    target.server = target.start(port, scratch / f"{target.key}.stderr.log")
    target.server.wait_for(ready_path)


def measure_rounds(
    targets: list[Target], options: Options, scratch: Path, jaeger_pid: int | None
) -> None:
    out = options.out
    warm_up = wrk.Load(options.load.threads, options.load.connections, 1)
    for target in targets:
        wrk.run(target.url(), warm_up, scratch)
    say(out, "==> Warmed up every server; now the measured runs, alternating")
    total = options.rounds * len(targets)
    done = 0
    for round_number in range(1, options.rounds + 1):
        for target in targets:
            result, cpu = run_with_cpu(target, options.load, scratch, jaeger_pid)
            target.runs.append(result)
            target.cpu.append(cpu)
            done += 1
            say(
                out,
                f"[{done}/{total}] round {round_number}: {target.label}: "
                f"{result.requests_per_second:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
                f"p99 {result.p99_ms:.2f} ms" + errors_note(result),
            )


def run_with_cpu(
    target: Target, load: wrk.Load, scratch: Path, jaeger_pid: int | None
) -> tuple[wrk.Result, CpuUse]:
    """One wrk run, and what it cost each process in CPU time per request: the figure
    that says what the template adds to a request, where requests/s also depends on how
    the machine's CPUs are shared between the server, wrk and Jaeger."""
    assert target.server is not None
    watched = jaeger_pid if target.exports else None
    server_before = target.server.cpu_seconds()
    jaeger_before = cpu_seconds(watched) if watched is not None else 0.0
    wrk_before = children_cpu_seconds()
    result = wrk.run(target.url(), load, scratch)
    wrk_seconds = children_cpu_seconds() - wrk_before  # wrk is the one child reaped meanwhile
    server_seconds = target.server.cpu_seconds() - server_before
    jaeger_seconds = cpu_seconds(watched) - jaeger_before if watched is not None else None
    per_request = 1e6 / max(result.requests, 1)
    cpu = CpuUse(
        server_seconds * per_request,
        wrk_seconds * per_request,
        jaeger_seconds * per_request if jaeger_seconds is not None else None,
    )
    return result, cpu


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def errors_note(result: wrk.Result) -> str:
    if not result.errors:
        return ""
    return f", {result.errors:,} errors of {result.requests:,} (not counted as served)"


def measure_half_load(targets: list[Target], options: Options, scratch: Path) -> wrk.Load:
    """Every server at about half the baseline's maximum requests/s, in alternating rounds
    as the maximum-load runs are: p99 is the figure a busy moment moves most."""
    baseline = targets[0]
    rate = statistics.median(r.requests_per_second for r in baseline.runs) / 2
    connections = max(options.load.threads, round(rate * HALF_LOAD_DELAY_MS / 1000))
    load = wrk.Load(options.load.threads, connections, options.load.seconds, HALF_LOAD_DELAY_MS)
    total = options.rounds * len(targets)
    done = 0
    for round_number in range(1, options.rounds + 1):
        for target in targets:
            result = wrk.run(target.url(), load, scratch)
            target.half_loads.append(result)
            done += 1
            say(
                options.out,
                f"[half load {done}/{total}] round {round_number}: {target.label}: "
                f"{result.requests_per_second:,.0f} req/s, "
                f"p99 {result.p99_ms:.2f} ms" + errors_note(result),
            )
    return load


def measure_startup(binary: Path, samples: int, scratch: Path, out: TextIO) -> list[float]:
    """Seconds from exec to the first 200 from /startupz, `samples` times."""
    times = []
    for index in range(1, samples + 1):
        port = free_port()
        server = Server([str(binary)], service_env(port, DEFAULTS_ENV), port, scratch / "s.log")
        try:
            times.append(server.wait_for("/startupz"))
        finally:
            server.stop()
        if index == samples or index % 5 == 0:
            milliseconds = times[-1] * 1000
            say(out, f"[start-up {index}/{samples}] exec to /startupz 200: {milliseconds:.1f} ms")
    return times


def measure_copies(project: ServiceProject, options: Options, scratch: Path) -> dict[str, float]:
    """`copier copy` of the project's answers, without its tasks and with them."""
    answers = yaml.safe_load((project.path / ".copier-answers.yml").read_text(encoding="utf-8"))
    data = {key: value for key, value in answers.items() if not key.startswith("_")}
    data_file = scratch / "answers.yml"
    data_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    seconds = {}
    for key, extra in (("without_tasks", ["--skip-tasks"]), ("with_tasks", [])):
        dest = scratch / f"copy-{key}"
        argv = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet"]
        if options.source.vcs_ref:
            argv += ["--vcs-ref", options.source.vcs_ref]
        argv += ["--data-file", str(data_file), *extra, options.source.src, str(dest)]
        started = time.monotonic()
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        seconds[key] = time.monotonic() - started
        if result.returncode != 0:
            raise GosvcError(f"copier copy failed: {(result.stdout + result.stderr)[-2000:]}")
        shutil.rmtree(dest, ignore_errors=True)
        say(options.out, f"[copier copy {key.replace('_', ' ')}] {seconds[key]:.1f} s")
    return seconds


def summary(runs: list[wrk.Result]) -> dict[str, Any]:
    """A server's runs, one per round: the medians, the totals, and every run."""
    median = statistics.median
    return {
        "requests_per_second": median(r.requests_per_second for r in runs),
        "p50_ms": median(r.p50_ms for r in runs),
        "p99_ms": median(r.p99_ms for r in runs),
        "errors": sum(r.errors for r in runs),
        "requests": sum(r.requests for r in runs),
        "runs": [run.as_dict() for run in runs],
    }


def cpu_summary(runs: list[CpuUse], server_ratios: list[float]) -> dict[str, Any]:
    """The medians of a server's CPU figures, and its CPU per request over the baseline's."""
    median = statistics.median
    jaeger = [run.jaeger_us for run in runs if run.jaeger_us is not None]
    return {
        "server": median(run.server_us for run in runs),
        "wrk": median(run.wrk_us for run in runs),
        "jaeger": median(jaeger) if jaeger else None,
        "server_ratio": median(server_ratios) if server_ratios else None,
        "server_ratio_min": min(server_ratios, default=None),
        "server_ratio_max": max(server_ratios, default=None),
        "runs": [run.as_dict() for run in runs],
    }


def round_ratios(
    runs: list[Run], base_runs: list[Run], figure: Callable[[Run], float]
) -> list[float]:
    """A figure of each run over the baseline's in the same round."""
    return [
        figure(run) / figure(base)
        for run, base in zip(runs, base_runs, strict=True)
        if figure(base)
    ]


def figures(
    project: ServiceProject,
    options: Options,
    targets: list[Target],
    half_load: wrk.Load,
    startup: list[float],
    binary: Path,
    stripped: Path,
    copies: dict[str, float] | None,
    load_at_start: tuple[float, float, float],
) -> dict[str, Any]:
    baseline = targets[0]
    rows = []
    for target in targets:
        ratios = round_ratios(target.runs, baseline.runs, lambda r: r.requests_per_second)
        p99_ratios = round_ratios(target.half_loads, baseline.half_loads, lambda r: r.p99_ms)
        cpu_ratios = round_ratios(target.cpu, baseline.cpu, lambda c: c.server_us)
        rows.append(
            {
                "key": target.key,
                "label": target.label,
                "path": target.path,
                **summary(target.runs),
                "ratio": statistics.median(ratios),
                "ratio_min": min(ratios),
                "ratio_max": max(ratios),
                "idle_rss_bytes": target.idle_rss_bytes,
                "cpu_us_per_request": cpu_summary(target.cpu, cpu_ratios),
                "half_load": {
                    **summary(target.half_loads),
                    "p99_ratio": statistics.median(p99_ratios) if p99_ratios else None,
                    "p99_ratio_min": min(p99_ratios, default=None),
                    "p99_ratio_max": max(p99_ratios, default=None),
                },
            }
        )
    return {
        "service": project.name,
        "route": f"GET {project.record_pattern}",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_start": load_at_start[0],
            "load_average_end": os.getloadavg()[0],
            "go": servers.go_version(),
            "wrk": wrk.version(),
        },
        "load": {
            "threads": options.load.threads,
            "connections": options.load.connections,
            "seconds": options.load.seconds,
            "rounds": options.rounds,
            "half_load_connections": half_load.connections,
            "half_load_delay_ms": half_load.delay_ms,
        },
        "targets": rows,
        "startup_ms": {
            "median": statistics.median(startup) * 1000,
            "min": min(startup) * 1000,
            "max": max(startup) * 1000,
            "samples": [s * 1000 for s in startup],
        },
        "binary_bytes": binary.stat().st_size,
        "binary_stripped_bytes": stripped.stat().st_size,
        "copier_copy_seconds": copies,
    }
