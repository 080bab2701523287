"""Unit layer: the project checks' plumbing without Go: the report's verdict, what a failing
step prints, the environment the steps run in (-trimpath appended to the user's GOFLAGS)
and the new-project check without Go on PATH."""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path

import pytest
from gosvc import checks
from gosvc.checks import Report, Step, StepResult, go_environment, run_checks, with_trimpath

pytestmark = pytest.mark.unit

PYTHON = sys.executable


def python_step(code: str, *, fails_on_output: bool = False) -> Step:
    return Step((PYTHON, "-c", code), fails_on_output=fails_on_output)


def test_report_is_ok_only_when_every_step_ran_and_passed() -> None:
    step = python_step("pass")
    passed = StepResult(step=step, ok=True, seconds=1.5, output="")
    failed = StepResult(step=step, ok=False, seconds=0.5, output="boom")
    assert Report(results=(passed, passed), not_run=()).ok
    assert Report(results=(passed, passed), not_run=()).seconds == 3.0
    assert not Report(results=(passed, failed), not_run=()).ok
    assert not Report(results=(passed,), not_run=(step,)).ok


def test_steps_run_cheapest_first_and_race_changes_only_the_tests() -> None:
    names = [step.name for step in checks.steps()]
    assert names == [
        "gofmt -l .",
        "go mod tidy -diff",
        "go vet ./...",
        "go build ./...",
        "go test ./...",
    ]
    assert [step.name for step in checks.steps(race=True)] == [*names[:-1], "go test -race ./..."]
    assert checks.describe(checks.steps()[:2]) == "`gofmt -l .`, `go mod tidy -diff`"


def test_a_failing_step_stops_the_run_and_lists_the_rest_as_not_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = (
        python_step("print('fine')"),
        python_step("import sys; print('it broke'); sys.exit(3)"),
        python_step("pass"),
    )
    monkeypatch.setattr(checks, "steps", lambda race=False: plan)
    out = io.StringIO()
    report = run_checks(tmp_path, out=out, indent="> ")
    assert not report.ok
    assert [result.ok for result in report.results] == [True, False]
    assert report.not_run == plan[2:]
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"> {plan[0].name} ... ok (")
    assert lines[1].startswith(f"> {plan[1].name} ... FAILED (")
    assert lines[2] == ">   it broke"
    assert lines[3] == f"> {plan[2].name} ... not run"


def test_output_fails_a_step_that_lists_problems_and_says_how_to_fix_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    listed = python_step("print('cmd/main.go')", fails_on_output=True)
    monkeypatch.setattr(checks, "steps", lambda race=False: (listed,))
    out = io.StringIO()
    report = run_checks(tmp_path, out=out)
    assert not report.ok
    assert "files that need gofmt (run `gofmt -w .`):" in out.getvalue()
    assert "    cmd/main.go" in out.getvalue()


@pytest.mark.parametrize(
    ("goflags", "expected"),
    [
        ("", "-trimpath"),
        ("-buildvcs=false", "-buildvcs=false -trimpath"),
        ("-mod=vendor  -tags=integration", "-mod=vendor -tags=integration -trimpath"),
        ("-trimpath -mod=mod", "-trimpath -mod=mod"),
        ("-trimpath=false", "-trimpath=false"),
    ],
)
def test_trimpath_is_appended_to_the_users_goflags(goflags: str, expected: str) -> None:
    assert with_trimpath(goflags) == expected


def fake_go(folder: Path, goflags: str) -> str:
    """A `go` whose `go env GOFLAGS` says `goflags` (as `go env -w GOFLAGS=...` would)."""
    folder.mkdir()
    go = folder / "go"
    go.write_text(f'#!/bin/sh\n[ "$1 $2" = "env GOFLAGS" ] && echo "{goflags}"\n')
    go.chmod(go.stat().st_mode | stat.S_IXUSR)
    return str(folder)


def test_steps_run_with_the_go_env_files_goflags_plus_trimpath(tmp_path: Path) -> None:
    # Setting GOFLAGS hides the value `go env -w` wrote, so that one is read and kept.
    env = go_environment({"PATH": fake_go(tmp_path / "bin", "-buildvcs=false"), "HOME": "/x"})
    assert env["GOFLAGS"] == "-buildvcs=false -trimpath"
    assert env["HOME"] == "/x"


def test_steps_keep_the_users_goflags_variable(tmp_path: Path) -> None:
    path = fake_go(tmp_path / "bin", "-from-the-env-file")
    assert go_environment({"PATH": path, "GOFLAGS": "-mod=mod"})["GOFLAGS"] == "-mod=mod -trimpath"
    # Go reads an empty variable as unset: the env file's flags apply.
    assert go_environment({"PATH": path, "GOFLAGS": ""})["GOFLAGS"] == (
        "-from-the-env-file -trimpath"
    )


def test_steps_see_the_trimpath_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOFLAGS", "-mod=mod")
    shown = python_step("import os; print(os.environ['GOFLAGS'])", fails_on_output=True)
    monkeypatch.setattr(checks, "steps", lambda race=False: (shown,))
    report = run_checks(tmp_path, out=io.StringIO())
    assert report.results[0].output == "-mod=mod -trimpath"
    assert os.environ["GOFLAGS"] == "-mod=mod", "the caller's environment is left alone"


def test_a_new_project_without_go_is_kept_with_a_warning_naming_the_checks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(checks, "missing_tools", lambda: ["go", "gofmt"])
    assert checks.check_new_project(tmp_path) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    [warning] = captured.err.splitlines()
    assert warning.startswith("warning: go and gofmt not found on PATH")
    for step in checks.steps():
        assert f"`{step.name}`" in warning
    assert f"gosvc check {tmp_path}" in warning
