"""Fixtures shared by the template's tests, and the machinery that keeps the suite fast.

How the suite runs (pyproject's [tool.pytest.ini_options]): on every core with
pytest-xdist (`-n auto --dist loadgroup`). Session fixtures exist once per worker, so the
expensive ones below do their work once per *run* instead: the first worker to ask does it
under a file lock in a folder every worker sees (support.SharedWork), the others wait and
reuse it. Go's module and build caches are the user's defaults, shared by every test and
worker, and GOFLAGS gets -trimpath (appended to the user's own), so identical code in two
temporary folders compiles and tests once.

Fixtures for test authors:

- `rendered_set(answer_set) -> Project`: the run's one render of an answer set. Read it,
  build it, run `go test` in it, never change it: the session fails at the end if a test
  changed a file in it (tree digest).
- `built_set(answer_set) -> Built`: the run's one `make build` of an answer set (in a copy
  of its render): `.binary` is bin/<service>. Same rule: start the binary, do not write
  into the project.
- `fresh_project -> Project`: a private copy of the default answers' render, free to
  modify (a copy costs milliseconds; a render about ten seconds).
- `project_copy(answer_set, dest) -> Project`: the same for any answer set.
- `start(name, http_port=None, binary=None, **env) -> Service`: start the module's
  `built` fixture's binary (the module defines `built`), or `binary`, and wait until it is
  ready; every one started is stopped at the end.
- `shared_work -> SharedWork`: for other once-per-run work (a database, a binary, a
  snapshot of the template), `shared_work.folder(key, make)`; put a version or content
  hash in the key when the work depends on one.

Scheduling: a test module with module- or class-scoped fixtures stays on one worker
(an automatic `xdist_group` named after the module), so those fixtures are set up once;
mark other tests `@pytest.mark.xdist_group("name")` to keep them together. Units of work
run longest first, by the durations the previous run recorded in .pytest_cache (on a
fresh clone, by a guess per layer), so neither core idles at the end.

Layers: every test carries exactly one layer marker (LAYERS below, registered in
pyproject.toml); a test without one is a collection error. At the end pytest prints the
time spent per layer.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from gosvc.checks import go_environment
from gosvc.matrix import AnswerSet
from gosvc.service import Service
from support import (
    DEFAULTS,
    BuildSet,
    Built,
    CopySet,
    Figure,
    Launch,
    Project,
    RenderSet,
    SharedWork,
    copy_project,
    shared_build,
    shared_render,
    unchanged_since_made,
)

# What a test of each layer takes when no earlier run measured it (seconds, warm caches):
# only the order of the work depends on it.
GUESSED_SECONDS = {
    "update": 40.0,
    "build": 30.0,
    "run": 10.0,
    "adversarial": 15.0,
    "cli": 10.0,
    "delivery": 5.0,
    "render": 0.5,
    "bad_answers": 1.0,
    "unit": 0.01,
}
DURATIONS_KEY = "copier-go-service/durations"
# xdist's loadgroup appends "@<group>" to a grouped test's node id.
GROUP_SUFFIX = re.compile(r"@[\w.-]+$")


# The layer markers, registered (with what each proves) in pyproject.toml's markers.
LAYERS = (
    "unit",
    "render",
    "build",
    "run",
    "bad_answers",
    "cli",
    "delivery",
    "components",
    "adversarial",
    "update",
)


def layers(config: pytest.Config) -> list[str]:
    """The layer markers, in the order above; each must be registered in pyproject.toml."""
    registered = {line.split(":", 1)[0].strip() for line in config.getini("markers")}
    unregistered = [layer for layer in LAYERS if layer not in registered]
    if unregistered:
        raise pytest.UsageError(f"register the layer markers {unregistered} in pyproject.toml")
    return list(LAYERS)


def pytest_configure(config: pytest.Config) -> None:
    # Every go command the tests start, directly or through make and gosvc, shares Go's
    # cache across temporary folders.
    os.environ["GOFLAGS"] = go_environment()["GOFLAGS"]
    if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        config.pluginmanager.register(LayerTimes(config), "copier-go-service-layer-times")
        config.pluginmanager.register(Figures(), "copier-go-service-figures")


@pytest.fixture(scope="session", autouse=True)
def go_toolchain() -> None:
    """The suite checks generated Go code: without Go it fails instead of skipping."""
    missing = [tool for tool in ("go", "gofmt", "git", "make") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the template tests need {', '.join(missing)} on PATH", pytrace=False)


@pytest.fixture
def figure(record_property: Callable[[str, object], None]) -> Figure:
    """`figure(line)` reports a measured figure: printed (seen with -s) and listed in the
    "figures" section at the end of the run, from every xdist worker. Figures are shown,
    never asserted."""

    def report(line: str) -> None:
        print(line)
        record_property("figure", line)

    return report


@pytest.fixture(scope="session")
def shared_work(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> SharedWork:
    """Once-per-run work, in a folder all xdist workers of this run share."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is <run>/popen-gwN; the run's folder is its parent.
    run_root = base if worker_id == "master" else base.parent
    return SharedWork(run_root / "shared")


@pytest.fixture(scope="session")
def rendered_set(shared_work: SharedWork) -> Iterator[RenderSet]:
    """Render an answer set once per run; callers must not modify the project."""
    used: dict[Path, Project] = {}

    def get(answer_set: AnswerSet) -> Project:
        project = shared_render(shared_work, answer_set)
        used[project.path] = project
        return project

    yield get
    _assert_unchanged(used.values())


@pytest.fixture(scope="session")
def built_set(shared_work: SharedWork) -> Iterator[BuildSet]:
    """Build an answer set with its `make build` once per run; callers only read it."""
    used: dict[Path, Project] = {}

    def get(answer_set: AnswerSet) -> Built:
        built = shared_build(shared_work, answer_set)
        used[built.project.path] = built.project
        return built

    yield get
    _assert_unchanged(used.values())


def _assert_unchanged(projects: Iterable[Project]) -> None:
    changed = [str(project.path) for project in projects if not unchanged_since_made(project)]
    assert not changed, (
        "a test changed a shared project that other tests read as rendered (use "
        f"fresh_project or project_copy to modify one): {', '.join(changed)}"
    )


@pytest.fixture(scope="session")
def project_copy(rendered_set: RenderSet) -> CopySet:
    """A private, writable copy of an answer set's render at `dest`."""

    def copy(answer_set: AnswerSet, dest: Path) -> Project:
        return copy_project(rendered_set(answer_set), dest)

    return copy


@pytest.fixture
def fresh_project(project_copy: CopySet, tmp_path: Path) -> Project:
    """A private render of the default answers, free to modify."""
    return project_copy(DEFAULTS, tmp_path / "project")


@pytest.fixture
def start(built: Built, tmp_path: Path) -> Iterator[Launch]:
    """Start the test module's `built` service (or `binary`) with extra environment, each
    with its own log folder (the log files are named after the binary); every one started
    is stopped. A module that starts it differently (with a seed file, say) defines its own
    `start`, which may ask for this one."""
    started: list[Service] = []

    def launch(
        name: str, http_port: int | None = None, binary: Path | None = None, **env: str
    ) -> Service:
        log_dir = tmp_path / f"{name}-{len(started)}"
        log_dir.mkdir()
        service = Service(binary or built.binary, log_dir=log_dir, env=env, http_port=http_port)
        started.append(service)
        service.wait_for_status("/readyz", 200)
        return service

    yield launch
    for service in started:
        service.stop()


# ------------------------------------------------------------- collection


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    known = layers(config)
    unlayered = [
        item.nodeid
        for item in items
        if sum(item.get_closest_marker(m) is not None for m in known) != 1
    ]
    if unlayered:
        raise pytest.UsageError(
            f"each test needs exactly one layer marker ({', '.join(known)}); these have "
            f"none or several: {', '.join(unlayered)}"
        )
    for item in items:
        if item.get_closest_marker("xdist_group") is None and _has_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(Path(item.path).stem))
    _order_longest_first(config, items)


def _has_module_fixture(item: pytest.Item) -> bool:
    """True when the test uses a fixture set up once per module or class."""
    if not isinstance(item, pytest.Function):
        return False
    return any(
        definition.scope in ("module", "class", "package")
        for definitions in item._fixtureinfo.name2fixturedefs.values()
        for definition in definitions
    )


def _unit_of(item: pytest.Item) -> str:
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return item.nodeid
    return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))


def _order_longest_first(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Reorder units of work (a group, or a lone test) longest first, keeping the order
    inside each unit, so xdist hands the long ones out first (--no-loadscope-reorder)."""
    cache = getattr(config, "cache", None)
    measured: dict[str, float] = cache.get(DURATIONS_KEY, {}) if cache is not None else {}
    known = layers(config)

    def seconds(item: pytest.Item) -> float:
        if item.nodeid in measured:
            return float(measured[item.nodeid])
        layer = next((m for m in known if item.get_closest_marker(m) is not None), "")
        return GUESSED_SECONDS.get(layer, 1.0)

    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(_unit_of(item), []).append(item)
    total = {unit: sum(seconds(item) for item in members) for unit, members in units.items()}
    ordered = sorted(units, key=lambda unit: -total[unit])  # stable for equal totals
    items[:] = [item for unit in ordered for item in units[unit]]


# ------------------------------------------------------------------ timing


class Figures:
    """Collects the `figure` lines of every test (under xdist, from the workers' reports)
    and prints them at the end, so the adversarial tests' measurements are seen."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            test = GROUP_SUFFIX.sub("", report.nodeid)
            self.lines += [(test, str(v)) for k, v in report.user_properties if k == "figure"]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.lines:
            return
        terminalreporter.section("figures")
        shown = ""
        for test, line in self.lines:
            if test != shown:
                terminalreporter.write_line(test)
                shown = test
            terminalreporter.write_line(f"  {line}")


class LayerTimes:
    """Adds up each test's setup, call and teardown per layer (under xdist, on the
    controller, from the workers' reports), prints the sums at the end and records each
    test's time for the next run's ordering."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.layers = layers(config)
        self.started = time.monotonic()
        self.per_test: dict[str, float] = defaultdict(float)
        self.per_layer: dict[str, float] = defaultdict(float)
        self.tests_per_layer: dict[str, int] = defaultdict(int)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.per_test[GROUP_SUFFIX.sub("", report.nodeid)] += report.duration
        layer = next((name for name in self.layers if name in report.keywords), "?")
        self.per_layer[layer] += report.duration
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.tests_per_layer[layer] += 1

    def pytest_sessionfinish(self) -> None:
        cache = getattr(self.config, "cache", None)  # None under -p no:cacheprovider
        if cache is not None and self.per_test:
            # Keep what this run did not measure (e.g. another layer's tests under -m).
            merged = {**cache.get(DURATIONS_KEY, {}), **self.per_test}
            cache.set(DURATIONS_KEY, {key: round(value, 3) for key, value in merged.items()})

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.per_layer:
            return
        lines = self.table()
        terminalreporter.section("time per layer")
        for line in lines:
            terminalreporter.write_line(line)
        # .ci/run prints it again at the very end, with the time of its own steps.
        destination = os.environ.get("PYTEST_LAYER_TIMES")
        if destination:
            Path(destination).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def table(self) -> list[str]:
        workers = getattr(self.config.option, "numprocesses", None) or 1
        lines = [
            f"{'layer':<12} {'tests':>5} {'seconds':>8}   (setup + call + teardown, "
            f"summed over {workers} worker{'s' if workers != 1 else ''})"
        ]
        for layer in sorted(self.per_layer, key=lambda name: -self.per_layer[name]):
            lines.append(
                f"{layer:<12} {self.tests_per_layer[layer]:>5} {self.per_layer[layer]:>8.1f}"
            )
        lines.append(f"{'wall clock':<12} {'':>5} {time.monotonic() - self.started:>8.1f}")
        return lines
