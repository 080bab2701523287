"""Delivery, lint: the generated project's `make lint` (gofmt, go vet and golangci-lint v2
with the generated .golangci.yml) and gosec report nothing, and the depguard layer rule in
that configuration really fires when a layer imports what it must not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from delivery_tools import GOLANGCI_LINT, GOSEC, ensure_go_tool
from filelock import FileLock
from gosvc.components import tools_root
from gosvc.matrix import AnswerSet
from support import MATRIX, Project, RenderSet, run_tool

# golangci-lint refuses to start while another one runs ("parallel golangci-lint is
# running", a lock in the temporary folder): these tests share one xdist worker, and a
# file lock serializes them whatever worker or test run they land in.
pytestmark = [pytest.mark.delivery, pytest.mark.xdist_group("golangci-lint")]


@pytest.fixture(autouse=True)
def one_linter_at_a_time() -> Iterator[None]:
    tools_root().mkdir(parents=True, exist_ok=True)
    with FileLock(tools_root() / ".golangci-lint-run.lock"):
        yield


BY_NAME = {answer_set.name: answer_set for answer_set in MATRIX}
# The default project, one with a different module path (depguard and goimports read it),
# one without the example domain, and the PostgreSQL one (its own packages and tests).
LINT_SETS = [BY_NAME["defaults"], BY_NAME["module-v2"], BY_NAME["no-example"], BY_NAME["postgres"]]


def ids(answer_set: AnswerSet) -> str:
    return answer_set.name


@pytest.mark.parametrize("answer_set", LINT_SETS, ids=ids)
def test_make_lint_with_golangci_lint_reports_nothing(
    answer_set: AnswerSet, rendered_set: RenderSet
) -> None:
    project = rendered_set(answer_set)
    linter = ensure_go_tool(GOLANGCI_LINT)
    verified = run_tool([str(linter), "config", "verify"], cwd=project.path)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    result = run_tool(["make", "lint", f"GOLANGCI_LINT={linter}"], cwd=project.path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{linter} run ./..." in result.stdout, "make lint did not run golangci-lint"
    assert "0 issues." in result.stdout


@pytest.mark.parametrize("answer_set", LINT_SETS, ids=ids)
def test_gosec_reports_nothing(answer_set: AnswerSet, rendered_set: RenderSet) -> None:
    project = rendered_set(answer_set)
    result = run_tool(
        [str(ensure_go_tool(GOSEC)), "-quiet", "-fmt", "text", "./..."], cwd=project.path
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_depguard_enforces_the_layer_rule(fresh_project: Project) -> None:
    project = fresh_project
    module = project.values["module_path"]
    context = project.values["context_name"]
    domain_file = project.context_dir / "domain" / "leak.go"
    domain_file.write_text(f'package domain\n\nimport _ "{module}/internal/platform/respond"\n')
    platform_file = project.path / "internal" / "platform" / "health" / "leak.go"
    platform_file.write_text(f'package health\n\nimport _ "{module}/internal/{context}/domain"\n')
    result = run_tool(
        [str(ensure_go_tool(GOLANGCI_LINT)), "run", "--enable-only", "depguard", "./..."],
        cwd=project.path,
    )
    assert result.returncode != 0
    assert "internal/platform/respond' is not allowed from list 'domain'" in result.stdout
    assert f"internal/{context}/domain' is not allowed from list 'platform'" in result.stdout


def test_make_lint_passes_after_make_vendor(fresh_project: Project) -> None:
    """vendor/ holds other people's code, not all of it gofmt-clean: lint skips it."""
    project = fresh_project
    vendored = run_tool(["make", "vendor"], cwd=project.path)
    assert vendored.returncode == 0, vendored.stderr
    assert (project.path / "vendor" / "modules.txt").is_file()
    unformatted = run_tool(["gofmt", "-l", "vendor"], cwd=project.path).stdout
    assert unformatted, "every vendored file is gofmt-clean: this test shows nothing"

    linter = ensure_go_tool(GOLANGCI_LINT)
    result = run_tool(["make", "lint", f"GOLANGCI_LINT={linter}"], cwd=project.path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 issues." in result.stdout

    # Still a check of the module's own files.
    (project.path / "internal" / "badly_formatted.go").write_text("package internal\nvar  x=1\n")
    result = run_tool(["make", "lint", f"GOLANGCI_LINT={linter}"], cwd=project.path)
    assert result.returncode != 0 and "internal/badly_formatted.go" in result.stdout
