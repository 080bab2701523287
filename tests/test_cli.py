"""gosvc new, check and smoke as a user runs them, and the post-generation hook in Copier."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from gosvc.checks import check_new_project, steps
from support import REPO_ROOT, Project, copier, gosvc, run_tool

pytestmark = pytest.mark.cli

STEP_NAMES = [step.name for step in steps()]
HOOK = REPO_ROOT / "hooks" / "check_project.py"


def assert_every_step_passed(output: str) -> None:
    for name in STEP_NAMES:
        assert f"{name} ... ok" in output, output


# ------------------------------------------------------------------ new


def test_new_generates_checks_and_prints_next_steps(tmp_path: Path) -> None:
    dest = tmp_path / "inventory-service"
    result = gosvc("new", str(dest), "--defaults")
    assert result.returncode == 0, result.stdout + result.stderr
    assert_every_step_passed(result.stdout)
    assert "Next steps:" in result.stdout
    assert (dest / ".copier-answers.yml").is_file()


def test_new_without_a_terminal_needs_defaults(tmp_path: Path) -> None:
    result = gosvc("new", str(tmp_path / "service"))
    assert result.returncode == 2
    assert "pass --defaults" in result.stderr
    assert not (tmp_path / "service").exists()


# ----------------------------------------------------------------- demo


def demo_calls(out: str) -> list[tuple[str, str, int]]:
    """(command, body, status) of each call the demo shows: its curl command, then what
    that command prints, the body and then the status code on its own line."""
    calls = []
    for block in out.split("\n$ ")[1:]:
        command, _, rest = block.partition("\n")
        lines = rest.split("\n==> ")[0].split("\n")
        # The status code is the last line that is one; the demo's own notes may follow.
        last = max(index for index, line in enumerate(lines) if re.fullmatch(r"[0-9]{3}", line))
        calls.append((command, "\n".join(lines[:last]), int(lines[last])))
    return calls


def test_demo_shows_the_service_answering_then_draining(tmp_path: Path) -> None:
    """What `make demo`, the README's first command, runs."""
    result = gosvc("demo", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    calls = demo_calls(out)
    assert all(command.startswith("curl -s -X ") for command, _, _ in calls), calls
    assert [status for _, _, status in calls] == [200, 200, 200, 201, 200, 200, 409, 404, 503]
    assert calls[0][1].strip() == "ok"
    # Probes answer 200 while serving, then /readyz 503 with the drain named after SIGTERM.
    assert "[+]started ok" in calls[1][1]
    assert "[-]shutdown failed" in calls[-1][1]
    assert "Stopping it with SIGTERM" in out
    assert "exited with code 0" in out, out
    assert (tmp_path / "inventory-service" / "bin" / "inventory-service").is_file()


# ---------------------------------------------------------------- check


def test_check_passes_on_a_generated_project(fresh_project: Project) -> None:
    result = gosvc("check", str(fresh_project.path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert_every_step_passed(result.stdout)


def test_check_fails_on_a_gofmt_defect_and_names_the_file(fresh_project: Project) -> None:
    sloppy = fresh_project.path / "cmd" / fresh_project.service_name / "sloppy.go"
    sloppy.write_text("package main\n\nfunc   sloppy()  {}\n")
    result = gosvc("check", str(fresh_project.path))
    assert result.returncode == 1
    assert "gofmt -l . ... FAILED" in result.stdout
    assert f"cmd/{fresh_project.service_name}/sloppy.go" in result.stdout
    assert "go test ./... ... not run" in result.stdout


def test_check_fails_on_a_failing_test_and_shows_its_output(fresh_project: Project) -> None:
    package = fresh_project.path / "internal" / "answer"
    package.mkdir()
    (package / "answer.go").write_text("package answer\n\nfunc Answer() int { return 41 }\n")
    (package / "answer_test.go").write_text(
        'package answer\n\nimport "testing"\n\n'
        "func TestAnswer(t *testing.T) {\n"
        '\tif got := Answer(); got != 42 {\n\t\tt.Fatalf("deliberate failure: got %d", got)\n\t}\n'
        "}\n"
    )
    result = gosvc("check", str(fresh_project.path))
    assert result.returncode == 1
    assert "go build ./... ... ok" in result.stdout
    assert "go test ./... ... FAILED" in result.stdout
    assert "deliberate failure: got 41" in result.stdout


def test_check_refuses_a_folder_that_is_not_a_go_module(tmp_path: Path) -> None:
    result = gosvc("check", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"gosvc check: {tmp_path} is not a Go module (no go.mod); pass a generated project"
    ]


# ---------------------------------------------------------------- smoke


def test_smoke_prints_a_row_per_set_and_fails_on_a_bad_set(tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.yml"
    matrix.write_text(
        "sets:\n"
        "  - name: defaults\n    answers: {}\n"
        "  - name: bad-port\n    answers: {http_port: 70000}\n"
    )
    result = gosvc("smoke", "--matrix", str(matrix))
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "seconds" in rows["set"]
    assert "(defaults)" in rows["defaults"]
    assert " ok " in rows["defaults"]
    assert "http_port=70000" in rows["bad-port"]
    assert "render failed: http_port must be between 1 and 65535" in rows["bad-port"]
    assert "1 of 2 answer sets failed" in result.stdout


def test_smoke_filter_that_matches_nothing_is_bad_input(tmp_path: Path) -> None:
    result = gosvc("smoke", "-k", "no-such-set")
    assert result.returncode == 2
    assert "no answer set name contains 'no-such-set'" in result.stderr


# ----------------------------------------------------------------- hook


def path_without_go() -> str:
    """PATH without the folders that hold the Go toolchain (git and the shell tools stay)."""
    kept = [
        folder
        for folder in os.environ["PATH"].split(os.pathsep)
        if not any((Path(folder) / tool).exists() for tool in ("go", "gofmt"))
    ]
    path = os.pathsep.join(kept)
    assert shutil.which("go", path=path) is None
    assert shutil.which("git", path=path) is not None, "git must not live next to go"
    return path


def test_copier_copy_runs_the_checks_in_its_hook(tmp_path: Path) -> None:
    dest = tmp_path / "service"
    result = copier("copy", "--trust", "--defaults", "--vcs-ref", "HEAD", str(REPO_ROOT), str(dest))
    assert result.returncode == 0, result.stdout + result.stderr
    assert_every_step_passed(result.stdout)
    assert "All checks passed" in result.stdout


def test_hook_without_go_warns_and_keeps_the_project(tmp_path: Path) -> None:
    dest = tmp_path / "service"
    env = {**os.environ, "PATH": path_without_go()}
    args = ["copy", "--trust", "--defaults", "--vcs-ref", "HEAD", str(REPO_ROOT), str(dest)]
    result = copier(*args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    warning = next(line for line in result.stderr.splitlines() if line.startswith("warning:"))
    assert "go and gofmt not found on PATH" in warning
    for name in STEP_NAMES:
        assert name in warning
    assert "gosvc check" in warning
    assert (dest / "go.mod").is_file()


def test_check_new_project_fails_on_a_defect_and_shows_the_output(
    fresh_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    # What the hook runs after `copier copy`: a vet finding is a real defect.
    (fresh_project.path / "cmd" / fresh_project.service_name / "vetfail.go").write_text(
        'package main\n\nimport "fmt"\n\nfunc vetFailure() { fmt.Printf("%d\\n", "text") }\n'
    )
    assert check_new_project(fresh_project.path) == 1
    captured = capsys.readouterr()
    assert "go vet ./... ... FAILED" in captured.out
    assert "vetfail.go" in captured.out
    assert "failed `go vet ./...`" in captured.err


def test_copier_copy_keeps_a_project_it_cannot_check_offline(tmp_path: Path) -> None:
    """No module proxy and an empty module cache: the environment failed, not the code,
    so the project stays and the warning says how to check it later."""
    cache = tmp_path / "empty-module-cache"
    cache.mkdir()
    dest = tmp_path / "service"
    env = {**os.environ, "GOPROXY": "off", "GOMODCACHE": str(cache), "GOTOOLCHAIN": "local"}
    args = ["copy", "--trust", "--defaults", "--vcs-ref", "HEAD", str(REPO_ROOT), str(dest)]
    try:
        result = copier(*args, env=env)
    finally:
        # Go writes its module cache read-only.
        run_tool(["chmod", "-R", "u+w", str(cache)])
    assert result.returncode == 0, result.stdout + result.stderr
    warning = next(line for line in result.stderr.splitlines() if line.startswith("warning:"))
    assert "module lookup disabled by GOPROXY=off" in warning
    assert "not the generated code" in warning and "The project was kept" in warning
    assert f"gosvc check {dest}" in warning
    assert (dest / "go.mod").is_file()
    assert "defect" not in result.stderr


def test_copier_copy_from_a_relative_path_says_how_to_stay_updatable(tmp_path: Path) -> None:
    dest = tmp_path / "service"
    env = {**os.environ, "PATH": path_without_go()}
    result = run_tool(
        [
            sys.executable,
            "-m",
            "copier",
            "copy",
            "--trust",
            "--defaults",
            "--vcs-ref",
            "HEAD",
            ".",
            str(dest),
        ],
        cwd=REPO_ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "records the template as '.'" in result.stderr
    assert "set _src_path there to the template's absolute path or git URL" in result.stderr
    update = gosvc("update", "--check", str(dest))
    assert update.returncode == 2
    assert update.stderr.count("\n") == 1 and "_src_path" in update.stderr


def test_a_built_wheel_generates_a_service(tmp_path: Path) -> None:
    """Not only the editable install: a wheel carries the template it renders."""
    built = run_tool(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(REPO_ROOT),
        ]
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("copier_go_service-*.whl")
    venv = tmp_path / "venv"
    assert run_tool([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    # The dependencies come from this environment; gosvc itself only from the wheel.
    site = next((venv / "lib").glob("python3*/site-packages"))
    deps = [path for path in sys.path if path.endswith("site-packages")]
    (site / "deps.pth").write_text("\n".join(deps) + "\n")
    installed = run_tool([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(wheel)])
    assert installed.returncode == 0, installed.stdout + installed.stderr

    env = {**os.environ, "PATH": path_without_go()}
    dest = tmp_path / "service"
    result = run_tool(
        [str(venv / "bin" / "gosvc"), "new", str(dest), "--defaults"], env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "_template" in result.stdout and "cannot be updated" in result.stdout
    assert (dest / "go.mod").is_file()
    from_checkout = run_tool(
        [
            str(venv / "bin" / "gosvc"),
            "new",
            str(tmp_path / "other"),
            "--defaults",
            "--template",
            str(REPO_ROOT),
            "--vcs-ref",
            "HEAD",
        ],
        env=env,
        cwd=tmp_path,
    )
    assert from_checkout.returncode == 0, from_checkout.stdout + from_checkout.stderr
    assert "_commit:" in (tmp_path / "other" / ".copier-answers.yml").read_text()
