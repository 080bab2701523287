"""Delivery, CI: the generated GitHub workflows pass actionlint (with shellcheck on every
`run:` step), every `make` target they call exists in the generated Makefile, the jobs
are staged (checks, then the image, then one deploy per environment), and pinned tool
versions agree with the Makefile's."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from delivery_support import PRIVATE, make_variable
from delivery_tools import ACTIONLINT, GOLANGCI_LINT, ensure_go_tool, shellcheck
from gosvc.matrix import AnswerSet
from support import DEFAULTS, MATRIX, Project, RenderSet, run_tool

pytestmark = pytest.mark.delivery

POSTGRES = next(answer_set for answer_set in MATRIX if answer_set.name == "postgres")
SETS = [DEFAULTS, PRIVATE, POSTGRES]
# A go.mod on a later minor and patch than the default.
GO_126 = AnswerSet("go-1.26", {"service_name": "ledger", "go_version": "1.26.1"})
# owner/repo[/path]@<40 hex> # vX.Y.Z
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
# The defaults have contract tests (pact): their two jobs are checks like the others.
CHECK_JOBS = {"lint", "test", "vuln", "manifests", "pact-consumer", "pact-verify"}
DEPLOY_ORDER = ["deploy-dev", "deploy-staging", "deploy-prod"]


def ids(answer_set: AnswerSet) -> str:
    return answer_set.name


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


def workflow_files(project: Project) -> list[Path]:
    github = project.path / ".github"
    return sorted([*github.glob("workflows/*.yml"), *github.glob("actions/*/action.yml")])


def run_steps(project: Project) -> list[str]:
    """The shell of every `run:` step in the workflows and local composite actions."""
    scripts: list[str] = []
    for path in workflow_files(project):
        document = load(path)
        jobs = document.get("jobs", {}).values()
        step_lists = [job.get("steps", []) for job in jobs]
        step_lists.append(document.get("runs", {}).get("steps", []))
        scripts += [step["run"] for steps in step_lists for step in steps if "run" in step]
    return scripts


def make_targets_called(project: Project) -> set[str]:
    """Targets of every `make` command line: the words after `make` up to the next shell
    operator, without VAR=value assignments and options."""
    targets: set[str] = set()
    for script in run_steps(project):
        lexer = shlex.shlex(script.replace("\\\n", " "), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for index, word in enumerate(words):
            if word != "make":
                continue
            for argument in words[index + 1 :]:
                if argument[0] in "|&;<>()":
                    break
                if "=" not in argument and not argument.startswith("-"):
                    targets.add(argument)
    return targets


@pytest.mark.parametrize("answer_set", SETS, ids=ids)
def test_actionlint_and_shellcheck_pass(
    answer_set: AnswerSet, rendered_set: RenderSet, tmp_path: Path
) -> None:
    project = rendered_set(answer_set)
    # actionlint resolves local actions and reusable workflows from the repository root,
    # which it finds by .git: lint a copy so the shared project is left as rendered.
    shutil.copytree(project.path / ".github", tmp_path / ".github")
    assert run_tool(["git", "init", "-q", str(tmp_path)]).returncode == 0
    path = f"{shellcheck().parent}:{Path(shutil.which('go') or 'go').parent}:/usr/bin:/bin"
    result = run_tool(
        [str(ensure_go_tool(ACTIONLINT)), "-verbose"], cwd=tmp_path, env={"PATH": path}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Rule "shellcheck" was disabled' not in result.stderr, "run: scripts went unchecked"
    for workflow in ("ci.yml", "deploy.yml"):
        assert f"Linting .github/workflows/{workflow}" in result.stderr


@pytest.mark.parametrize("answer_set", SETS, ids=ids)
def test_every_make_target_the_workflows_call_exists(
    answer_set: AnswerSet, rendered_set: RenderSet
) -> None:
    project = rendered_set(answer_set)
    targets = make_targets_called(project)
    assert {"coverage", "vuln", "manifests", "deploy"} <= targets, targets
    variables = ["ENV=dev", "CONTEXT=ci-context", "IMAGE=registry.example.test/x@sha256:00"]
    for target in sorted(targets):
        result = run_tool(["make", "-n", target, *variables], cwd=project.path)
        assert result.returncode == 0, f"make {target}: {result.stderr}"
    missing = run_tool(["make", "-n", "no-such-target"], cwd=project.path)
    assert missing.returncode != 0, "make -n must fail for a target that does not exist"


def test_jobs_are_staged_checks_then_image_then_each_environment(
    rendered_set: RenderSet,
) -> None:
    project = rendered_set(DEFAULTS)
    text = (project.path / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    workflow = load(project.path / ".github" / "workflows" / "ci.yml")
    jobs: dict[str, Any] = workflow["jobs"]

    # GitHub's expressions survived Jinja.
    assert "${{ github.event_name == 'pull_request' }}" in text
    assert "{%" not in text and "{{ " not in text.replace("${{ ", "")

    assert workflow["permissions"] == {"contents": "read"}
    keys: dict[Any, Any] = workflow
    triggers = keys[True]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["push"]["branches"] == ["main"] and "pull_request" in triggers

    # Checks run in parallel; the image waits for all of them. A new check job only has
    # to be added to image.needs, which this enforces for every job without needs.
    independent = {name for name, job in jobs.items() if "needs" not in job}
    assert independent == CHECK_JOBS
    assert set(jobs["image"]["needs"]) == CHECK_JOBS

    build = next(
        step
        for step in jobs["image"]["steps"]
        if str(step.get("uses", "")).startswith("docker/build-push-action@")
    )
    assert build["with"]["push"] == "${{ env.PUSH == 'true' }}"
    push_rule = jobs["image"]["env"]["PUSH"]
    assert "github.ref == 'refs/heads/main'" in push_rule and "'push'" in push_rule
    assert jobs["image"]["permissions"]["packages"] == "write"

    previous = "image"
    for name, environment in zip(DEPLOY_ORDER, ("dev", "staging", "prod"), strict=True):
        job = jobs[name]
        assert job["uses"] == "./.github/workflows/deploy.yml"
        assert job["with"]["environment"] == environment
        assert job["with"]["image"] == "${{ needs.image.outputs.image }}"
        assert previous in job["needs"], f"{name} must wait for {previous}"
        previous = name
    assert "refs/heads/main" in jobs["deploy-dev"]["if"]

    deploy = load(project.path / ".github" / "workflows" / "deploy.yml")
    [deploy_job] = deploy["jobs"].values()
    assert deploy_job["environment"] == "${{ inputs.environment }}"
    assert deploy_job["concurrency"]["cancel-in-progress"] is False


@pytest.mark.parametrize("answer_set", SETS, ids=ids)
def test_pinned_tool_versions_agree(answer_set: AnswerSet, rendered_set: RenderSet) -> None:
    project = rendered_set(answer_set)
    jobs = load(project.path / ".github" / "workflows" / "ci.yml")["jobs"]
    lint = next(
        step
        for step in jobs["lint"]["steps"]
        if str(step.get("uses", "")).startswith("golangci/golangci-lint-action@")
    )
    makefile_version = make_variable(project, "GOLANGCI_LINT_VERSION")
    assert lint["with"]["version"] == makefile_version == GOLANGCI_LINT.version


def test_dependabot_updates_modules_images_and_actions(rendered_set: RenderSet) -> None:
    project = rendered_set(DEFAULTS)
    config = load(project.path / ".github" / "dependabot.yml")
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert ecosystems == {"gomod", "docker", "github-actions"}


@pytest.mark.parametrize(
    ("answer_set", "minor"), [(DEFAULTS, "1.25"), (GO_126, "1.26")], ids=["go-1.25", "go-1.26"]
)
def test_ci_installs_the_newest_patch_of_the_go_minor(
    answer_set: AnswerSet, minor: str, rendered_set: RenderSet, tmp_path: Path
) -> None:
    """go.mod's `go 1.25.0` is the oldest supported release: setup-go given the file
    would install exactly that, unpatched. The action asks for the newest 1.25.x."""
    project = rendered_set(answer_set)
    setup = load(project.path / ".github" / "actions" / "setup-go" / "action.yml")
    steps = setup["runs"]["steps"]
    [setup_go] = [
        step for step in steps if str(step.get("uses", "")).startswith("actions/setup-go@")
    ]
    assert "go-version-file" not in setup_go["with"]
    assert setup_go["with"]["check-latest"] is True

    # Run the step that reads go.mod, as the runner would, and resolve the expression.
    [reader] = [step for step in steps if step.get("id") == "go"]
    output = tmp_path / "github_output"
    result = run_tool(
        ["bash", "-c", reader["run"]],
        cwd=project.path,
        env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(output)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    version = setup_go["with"]["go-version"].replace(
        "${{ steps.go.outputs.minor }}", outputs["minor"]
    )
    assert version == f"{minor}.x"
    assert f"go {minor}" in (project.path / "go.mod").read_text()


@pytest.mark.parametrize("answer_set", SETS, ids=ids)
def test_third_party_actions_are_pinned_by_commit_sha(
    answer_set: AnswerSet, rendered_set: RenderSet
) -> None:
    project = rendered_set(answer_set)
    pinned = 0
    for path in workflow_files(project):
        for line in path.read_text(encoding="utf-8").splitlines():
            word, _, reference = line.strip().removeprefix("- ").partition(" ")
            if word != "uses:" or reference.startswith("./"):
                continue
            assert PINNED.match(reference), f"{path.name}: {reference} is not pinned by SHA"
            pinned += 1
    assert pinned >= 8, "the check above saw too few actions to mean anything"


def test_concurrency_comment_says_what_github_does(rendered_set: RenderSet) -> None:
    text = (rendered_set(DEFAULTS).path / ".github" / "workflows" / "ci.yml").read_text()
    comment = text[: text.index("\nconcurrency:")].rsplit("\n\n", 1)[1]
    assert "pending" in comment and "cancels" in comment, comment
    assert "always finish" not in comment, "runs on main can be cancelled while pending"


def test_postgres_runs_the_integration_tests_against_a_service_container(
    rendered_set: RenderSet,
) -> None:
    jobs: dict[str, Any] = load(rendered_set(POSTGRES).path / ".github" / "workflows" / "ci.yml")[
        "jobs"
    ]
    job = jobs["integration"]
    assert str(job["services"]["postgres"]["image"]).startswith("postgres:")
    assert "pg_isready" in job["services"]["postgres"]["options"]
    [step] = [step for step in job["steps"] if "run" in step]
    assert step["run"] == "make test-integration"
    assert step["env"]["TEST_DATABASE_URL"].startswith("postgres://")
    assert "integration" in jobs["image"]["needs"]
    # The memory service has no database to test against.
    assert (
        "integration"
        not in load(rendered_set(DEFAULTS).path / ".github" / "workflows" / "ci.yml")["jobs"]
    )
