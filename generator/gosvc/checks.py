"""The checks every generated project must pass, run one step at a time.

Standard library only: Copier's post-generation hook loads this file by path from the
template checkout (the hook runs in Copier's interpreter, where the gosvc package may not
be installed), and `gosvc new`, `gosvc check` and `gosvc smoke` import it normally. That
keeps the list of checks in one place.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

# The tools the steps call; a machine without them gets a warning, not a failure.
REQUIRED_TOOLS = ("go", "gofmt")
# Without it Go's cache keys include the project's folder, so every new folder recompiles
# and re-tests code identical to what was checked before (20 s instead of 5 s a check).
TRIMPATH = "-trimpath"

# What Go prints when the machine, not the code, stopped a step: GOPROXY=off with modules
# missing from the cache, a toolchain that cannot be downloaded or is too old, a full disk.
# These are the go command's own words and mean the same wherever they appear.
ENVIRONMENT_FAILURE = re.compile(
    r"module lookup disabled by GOPROXY=off|toolchain not available"
    r"|requires go >= \S+ \(running go \S+; GOTOOLCHAIN=local\)|no space left on device"
)
# No network, no proxy, a proxy that refuses. Only where the go command says them about a
# module (a line that starts with "go: " or names a module version): a failing test of the
# generated code may well log "connection refused", and that is a defect.
NETWORK_FAILURE = re.compile(
    r"dial tcp|no such host|connection refused|network is unreachable|i/o timeout"
    r"|TLS handshake timeout|proxyconnect|x509: |reading https?://\S+: [45][0-9][0-9] "
)
GO_COMMAND_LINE = re.compile(r"^go: |@v[0-9]")


@dataclass(frozen=True)
class Step:
    """One command run in the project folder."""

    argv: tuple[str, ...]
    # gofmt -l exits 0 even when files need formatting: it lists them instead.
    fails_on_output: bool = False

    @property
    def name(self) -> str:
        return " ".join(self.argv)


@dataclass(frozen=True)
class StepResult:
    step: Step
    ok: bool
    seconds: float
    output: str

    @property
    def environment_failure(self) -> str | None:
        """The line of a failed step's output that blames the machine, if one does."""
        if self.ok:
            return None
        for line in self.output.splitlines():
            if ENVIRONMENT_FAILURE.search(line) or (
                GO_COMMAND_LINE.search(line) and NETWORK_FAILURE.search(line)
            ):
                return line.strip()
        return None


@dataclass(frozen=True)
class Report:
    """What a run of the checks found; `results` stops at the first failing step."""

    results: tuple[StepResult, ...]
    not_run: tuple[Step, ...]

    @property
    def ok(self) -> bool:
        return not self.not_run and all(result.ok for result in self.results)

    @property
    def seconds(self) -> float:
        return sum(result.seconds for result in self.results)


def steps(*, race: bool = False) -> tuple[Step, ...]:
    """The project checks in the order they run: cheapest and most specific first."""
    test = ("go", "test", "-race", "./...") if race else ("go", "test", "./...")
    return (
        Step(("gofmt", "-l", "."), fails_on_output=True),
        # -diff reports what tidying would change and fails, without touching go.mod.
        Step(("go", "mod", "tidy", "-diff")),
        Step(("go", "vet", "./...")),
        Step(("go", "build", "./...")),
        Step(test),
    )


def missing_tools() -> list[str]:
    """Names of the tools the checks need that are not on PATH."""
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


def with_trimpath(goflags: str) -> str:
    """`goflags` (a GOFLAGS value) with -trimpath appended, unless it already sets
    -trimpath either way (a user's -trimpath=false stands)."""
    flags = goflags.split()
    if any(flag == TRIMPATH or flag.startswith(f"{TRIMPATH}=") for flag in flags):
        return goflags
    return " ".join([*flags, TRIMPATH])


def go_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the steps run in: `environ` (default os.environ) with -trimpath
    added to the GOFLAGS in force, the variable or else `go env -w`'s, which the variable
    would otherwise hide."""
    env = dict(os.environ if environ is None else environ)
    goflags = env.get("GOFLAGS")
    if not goflags:  # Go reads an empty variable as unset, too
        go = shutil.which("go", path=env.get("PATH"))
        if go is not None:
            probe = subprocess.run(
                [go, "env", "GOFLAGS"],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                encoding="utf-8",
                errors="replace",
                check=False,
            )
            goflags = probe.stdout.strip() if probe.returncode == 0 else ""
    env["GOFLAGS"] = with_trimpath(goflags or "")
    return env


def run_step(step: Step, project: Path, env: Mapping[str, str] | None = None) -> StepResult:
    """Run one step in `project`, in `env` (default: go_environment())."""
    started = time.monotonic()
    completed = subprocess.run(
        step.argv,
        cwd=project,
        env=dict(env) if env is not None else go_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        encoding="utf-8",
        errors="replace",
        check=False,
    )
    seconds = time.monotonic() - started
    output = completed.stdout.strip()
    ok = completed.returncode == 0 and not (step.fails_on_output and output)
    return StepResult(step=step, ok=ok, seconds=seconds, output=output)


def run_checks(
    project: Path,
    *,
    race: bool = False,
    out: TextIO | None = None,
    indent: str = "  ",
) -> Report:
    """Run every step in `project`, printing each with its duration, until one fails.

    A failing step's output is printed under it; the later steps are listed as not run,
    since they would mostly repeat the same error.
    """
    stream = out if out is not None else sys.stdout
    plan = steps(race=race)
    env = go_environment()
    results: list[StepResult] = []
    for index, step in enumerate(plan):
        print(f"{indent}{step.name} ...", end="", file=stream, flush=True)
        result = run_step(step, project, env)
        results.append(result)
        print(f" {'ok' if result.ok else 'FAILED'} ({result.seconds:.1f}s)", file=stream)
        if not result.ok:
            _print_output(result, stream, indent + "  ")
            skipped = plan[index + 1 :]
            for later in skipped:
                print(f"{indent}{later.name} ... not run", file=stream)
            return Report(results=tuple(results), not_run=skipped)
    return Report(results=tuple(results), not_run=())


def _print_output(result: StepResult, stream: TextIO, indent: str) -> None:
    if result.step.fails_on_output and result.output:
        print(f"{indent}files that need gofmt (run `gofmt -w .`):", file=stream)
    for line in result.output.splitlines() or ["(no output)"]:
        print(f"{indent}{line}", file=stream)


def describe(plan: Sequence[Step]) -> str:
    """The steps as one line, for messages that tell a user what was (not) checked."""
    return ", ".join(f"`{step.name}`" for step in plan)


def in_git_work_tree(path: Path) -> bool:
    """True when path is inside a git work tree (git itself decides, so nested folders count).

    Raises FileNotFoundError naming git when git is not installed.
    """
    try:
        probe = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=path,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            check=False,
        )
    except FileNotFoundError as error:
        if error.filename in (None, "git"):
            raise FileNotFoundError(2, "git not found on PATH; install git", "git") from None
        raise
    return probe.stdout.strip() == "true"


def rerun_hint(project: Path) -> str:
    """How to run the checks again by hand, with or without gosvc."""
    folder = shlex.quote(str(project))
    commands = " && ".join(step.name for step in steps())
    return f"`gosvc check {folder}`, or without gosvc: `cd {folder} && {commands}`"


def check_new_project(project: Path) -> int:
    """Check a project right after generation: 0 unless the generated code has a defect.

    Copier deletes the project when its task fails, so only a defect of the generated code
    fails: without Go, or when a step failed because of the machine (no network, module
    proxy down, GOPROXY=off with an empty module cache, a toolchain that cannot be
    downloaded), the project is good to keep. That is a warning naming what was not
    checked and how to check it later.
    """
    plan = describe(steps())
    missing = missing_tools()
    if missing:
        print(
            f"warning: {' and '.join(missing)} not found on PATH, so these checks were "
            f"skipped: {plan}. The project was kept; after installing Go 1.25 or later, "
            f"run them with {rerun_hint(project)}.",
            file=sys.stderr,
        )
        return 0
    print(f"Checking the generated project: {plan}", flush=True)
    report = run_checks(project)
    if report.ok:
        print(f"All checks passed in {report.seconds:.1f}s.")
        return 0
    failed = report.results[-1]
    cause = failed.environment_failure
    if cause is not None:
        unchecked = describe((failed.step, *report.not_run))
        print(
            f"warning: `{failed.step.name}` could not finish because of this machine, not "
            f"the generated code ({cause}), so these checks did not run: {unchecked}. The "
            "project was kept. Fix the network, the module proxy (GOPROXY, GOPRIVATE, "
            f"GOFLAGS) or the Go toolchain, then run {rerun_hint(project)}.",
            file=sys.stderr,
        )
        return 0
    print(
        f"error: the generated project failed `{failed.step.name}` (output above): a defect "
        "of the template or of this combination of answers",
        file=sys.stderr,
    )
    return 1
