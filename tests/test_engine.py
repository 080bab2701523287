"""gosvc's and the hook's own Python, in process: exit codes, one-line errors, what a
render reads and prints, the environment-failure rule of the post-copy check, the release
tags tool. No Go build runs here.
"""

from __future__ import annotations

import http.server
import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import jinja2
import pytest
import yaml
from gosvc import checks, cli, render
from gosvc.checks import Step, StepResult
from gosvc.demo import curl_command, curl_output
from gosvc.errors import InputError, ToolMissingError
from gosvc.template import TemplateSource, resolve
from gosvc.update import read_answers, update_project, validate_answers
from support import REPO_ROOT, SOURCE, copier, run_tool


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


HOOK = load_module(REPO_ROOT / "hooks" / "check_project.py", "check_project_hook")
RELEASE_TAGS = load_module(REPO_ROOT / "tools" / "release_tags.py", "release_tags")


def broken_template(root: Path, body: str) -> Path:
    """A one-question template whose single file renders `body`."""
    (root / "files").mkdir(parents=True)
    (root / "copier.yml").write_text("_subdirectory: files\nname:\n  type: str\n  default: x\n")
    (root / "files" / "README.md.jinja").write_text(body)
    return root


# ------------------------------------------------- the post-copy check and its task


def failed(step: str, output: str) -> StepResult:
    return StepResult(step=Step(tuple(step.split())), ok=False, seconds=1.0, output=output)


@pytest.mark.unit
@pytest.mark.parametrize(
    "output",
    [
        "go: example.com/svc/internal/platform/telemetry imports\n"
        "\tgo.opentelemetry.io/otel/trace: module lookup disabled by GOPROXY=off",
        "go: github.com/sony/gobreaker/v2@v2.1.0: Get "
        '"https://proxy.golang.org/github.com/sony/gobreaker/v2/@v/v2.1.0.mod": '
        "dial tcp: lookup proxy.golang.org on 127.0.0.53:53: no such host",
        "go: downloading go1.26.0 (linux/amd64)\n"
        "go: download go1.26.0 for linux/amd64: toolchain not available",
        "go: go.mod requires go >= 1.26 (running go 1.25.3; GOTOOLCHAIN=local)",
        "go: example.com/x@v1.0.0: reading https://goproxy.corp.example/example.com/x/@v/"
        "v1.0.0.mod: 503 Service Unavailable",
    ],
    ids=["goproxy-off", "no-dns", "toolchain-download", "toolchain-local", "proxy-503"],
)
def test_a_step_stopped_by_the_machine_is_an_environment_failure(output: str) -> None:
    assert failed("go mod tidy -diff", output).environment_failure is not None


@pytest.mark.unit
@pytest.mark.parametrize(
    "output",
    [
        # A failing test of the generated code that logs a network error is a defect.
        "--- FAIL: TestClient (0.00s)\n    client_test.go:42: Get "
        '"http://127.0.0.1:1/x": dial tcp 127.0.0.1:1: connect: connection refused',
        'cmd/svc/vetfail.go:5:21: fmt.Printf format %d has arg "text" of wrong type string',
        "go: updates to go.mod needed; to update it:\n\tgo mod tidy",
    ],
    ids=["test-logs-refused", "vet", "untidy"],
)
def test_a_defect_of_the_code_is_not_an_environment_failure(output: str) -> None:
    assert failed("go test ./...", output).environment_failure is None


@pytest.mark.unit
def test_check_new_project_keeps_a_project_the_machine_could_not_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def offline(step: Step, project: Path, env: object = None) -> StepResult:
        if step.argv[0] == "gofmt":
            return StepResult(step=step, ok=True, seconds=0.1, output="")
        return failed(" ".join(step.argv), "go: x@v1.0.0: module lookup disabled by GOPROXY=off")

    monkeypatch.setattr(checks, "run_step", offline)
    monkeypatch.setattr(checks, "missing_tools", list)
    project = tmp_path / "my service"
    assert checks.check_new_project(project) == 0
    warning = capsys.readouterr().err
    assert "not the generated code" in warning and "The project was kept" in warning
    assert f"gosvc check '{project}'" in warning
    assert "go test ./..." in warning


def render_task_when(operation: str) -> bool:
    config = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    (task,) = config["_tasks"]
    rendered = jinja2.Environment().from_string(task["when"]).render(_copier_operation=operation)
    return rendered.strip().lower() == "true"


@pytest.mark.unit
def test_the_check_task_runs_on_copy_only() -> None:
    """Not in the update's temporary copies, not on the unmerged update: no folder-name
    guessing in the hook."""
    assert render_task_when("copy")
    assert not render_task_when("update")
    assert "copier._main" not in (REPO_ROOT / "hooks" / "check_project.py").read_text()
    config = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    assert "gosvc check" in config["_message_after_update"]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("src_path", "relative"),
    [
        (".", True),
        ("../template", True),
        ("/work/template", False),
        ("gh:acme/copier-go-service", False),
        ("https://example.com/t.git", False),
        ("git@example.com:acme/t.git", False),
        ("C:\\templates\\svc", False),
    ],
)
def test_the_hook_warns_about_a_relative_template_path(
    src_path: str, relative: bool, tmp_path: Path
) -> None:
    (tmp_path / ".copier-answers.yml").write_text(f"_commit: abc\n_src_path: '{src_path}'\n")
    assert (HOOK.relative_template_path(tmp_path) is not None) is relative


@pytest.mark.unit
def test_gosvc_update_names_the_fix_for_a_relative_template_path(tmp_path: Path) -> None:
    (tmp_path / ".copier-answers.yml").write_text("_commit: 0.1.0\n_src_path: .\n")
    with pytest.raises(InputError) as raised:
        read_answers(tmp_path)
    assert "set _src_path there to the template's absolute path or git URL" in str(raised.value)


# -------------------------------------------------------------- exit codes, one line


@pytest.mark.cli
def test_a_template_defect_is_exit_1_not_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # from_json raises a ValueError inside the render: the template's fault, not the user's.
    template = broken_template(tmp_path / "template", '{{ "not json" | from_json }}\n')
    dest = tmp_path / "out"
    code = cli.main(["new", str(dest), "--defaults", "--template", str(template)])
    assert code == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("gosvc new: the template failed to render")
    assert not dest.exists()


@pytest.mark.cli
def test_demo_reports_a_render_error_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = broken_template(tmp_path / "template", '{{ "not json" | from_json }}\n')
    code = cli.main(["demo", str(tmp_path / "demo"), "--template", str(template)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("gosvc demo: the template failed to render") and err.count("\n") == 1


@pytest.mark.cli
def test_new_refuses_before_it_announces_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["new", str(tmp_path / "svc"), "--defaults", "-d", "go_version=1.24"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err == "gosvc new: go_version must be 1.25 or later, e.g. 1.26.1\n"


@pytest.mark.unit
def test_missing_git_is_one_line_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolMissingError, match="git not found on PATH"):
        update_project(tmp_path)
    assert cli.main(["update", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "gosvc update: git not found on PATH; install git\n"


@pytest.mark.unit
def test_a_windows_path_is_not_taken_for_a_url() -> None:
    with pytest.raises(InputError, match="no such folder"):
        resolve("C:\\templates\\svc", None)
    with pytest.raises(InputError, match="no such folder"):
        resolve("C:/templates/svc", None)
    assert resolve("gh:acme/svc", None).src == "gh:acme/svc"


@pytest.mark.unit
def test_a_relative_template_path_is_recorded_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO_ROOT.parent)
    assert resolve(REPO_ROOT.name, "HEAD").src == str(REPO_ROOT)


@pytest.mark.unit
def test_step_output_is_read_as_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """The C locale without coercion makes Python's default codec ASCII."""
    script = (
        "import pathlib, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from gosvc.checks import Step, run_step\n"
        "result = run_step(Step(('printf', 'caf\\\\303\\\\251')), pathlib.Path('.'))\n"
        "sys.stdout.buffer.write(result.output.encode('utf-8'))\n"
    )
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0"}
    result = subprocess.run(
        [sys.executable, "-X", "utf8=0", "-c", script, str(REPO_ROOT / "generator")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    assert result.stdout.decode("utf-8") == "café"


# ------------------------------------------------------ what a render reads and prints


@pytest.fixture
def clones(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every template clone Copier makes, by ref."""
    import copier._template as copier_template

    made: list[str] = []
    real_clone = copier_template.clone  # type: ignore[attr-defined]

    def counting_clone(url: str, ref: str = "HEAD", location: str | None = None) -> str:
        made.append(ref)
        return real_clone(url, ref, location)

    monkeypatch.setattr(copier_template, "clone", counting_clone)
    return made


@pytest.mark.cli
def test_a_render_fetches_the_template_once(tmp_path: Path, clones: list[str]) -> None:
    render.render_project(SOURCE, tmp_path / "svc", {"service_name": "orders"}, defaults=True)
    assert len(clones) == 1, clones


@pytest.mark.cli
def test_update_validation_fetches_each_version_once(tmp_path: Path, clones: list[str]) -> None:
    rendered = render.render_project(SOURCE, tmp_path / "svc", {}, defaults=True)
    answers = {"_commit": "HEAD", "_src_path": str(REPO_ROOT), **rendered.answers}
    clones.clear()
    validate_answers(answers, TemplateSource(str(REPO_ROOT), "HEAD"))
    # The target version and the project's own version: one fetch each.
    assert len(clones) == 2, clones


@pytest.mark.cli
def test_next_steps_are_what_copier_prints(tmp_path: Path) -> None:
    dest = tmp_path / "my services" / "svc"
    rendered = render.render_project(SOURCE, dest, {}, defaults=True)
    assert f"cd '{dest}'" in rendered.next_steps
    other = tmp_path / "copier" / "my services" / "svc"
    copied = copier(
        "copy", "--skip-tasks", "--defaults", "--vcs-ref", "HEAD", str(REPO_ROOT), str(other)
    )
    assert copied.returncode == 0, copied.stderr
    assert rendered.next_steps.replace(str(dest), str(other)) in copied.stderr


# ------------------------------------------------------------------------- the demo


@pytest.fixture
def web_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = b'{"got": ' + self.rfile.read(length) + b"}\n"
            self.send_response(201)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.unit
def test_the_demo_shows_what_its_curl_command_prints(web_server: str) -> None:
    command = curl_command("POST", f"{web_server}/v1/stocks", '{"id": "sku-1"}')
    printed = run_tool(["sh", "-c", command])
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == curl_output(201, b'{"got": {"id": "sku-1"}}\n') + "\n"


# ---------------------------------------------------------------- release tags tool


@pytest.mark.unit
def test_release_tags_are_created_from_release_commits(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        done = run_tool(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    git("init", "-q")
    for subject in ("start", "release: 0.1.0", "more", "release: 0.2.0", "after"):
        git("commit", "-q", "--allow-empty", "-m", subject)
    git("tag", "0.2.0", "HEAD~1")
    tool = run_tool([sys.executable, str(REPO_ROOT / "tools" / "release_tags.py")], cwd=tmp_path)
    assert tool.returncode == 0, tool.stderr
    assert tool.stdout.splitlines()[1] == "0.2.0: already tagged"
    assert git("log", "-1", "--format=%s", "0.1.0") == "release: 0.1.0"
    assert git("describe", "--tags", "HEAD").startswith("0.2.0-1-")
    again = run_tool([sys.executable, str(REPO_ROOT / "tools" / "release_tags.py")], cwd=tmp_path)
    assert again.stdout.splitlines() == ["0.1.0: already tagged", "0.2.0: already tagged"]
