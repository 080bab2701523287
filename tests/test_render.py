"""Layer 1, render only (tasks skipped): every matrix set renders into the expected tree,
with no Jinja left over, gofmt-clean Go straight from rendering, and parseable YAML/JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from gosvc.matrix import AnswerSet
from support import MATRIX, REPO_ROOT, Project, RenderSet, run_tool

pytestmark = pytest.mark.render

PLATFORM_PACKAGES = ("config", "httpserver", "health", "respond", "logging", "overload")
CONTEXT_LAYERS = ("domain", "application", "infrastructure", "adapter/http")
# `${{ ... }}` is GitHub Actions syntax the workflow keeps on purpose.
LEFTOVER_JINJA = re.compile(r"(?<!\$)\{\{|\{%|%\}")
# So is a Grafana legend's `{{label}}` in the dashboard.
GRAFANA_LEGEND = re.compile(r'^\s*"legendFormat": ".*\{\{\w+\}\}')
# Files the template ships as they are, not text.
BINARY_SUFFIXES = {".png"}


def files(project: Project) -> list[Path]:
    return sorted(path for path in project.path.rglob("*") if path.is_file())


@pytest.fixture(params=MATRIX, ids=lambda answer_set: answer_set.name)
def project(request: pytest.FixtureRequest, rendered_set: RenderSet) -> Project:
    answer_set: AnswerSet = request.param
    return rendered_set(answer_set)


def test_tree_has_the_service_layout(project: Project) -> None:
    root = project.path
    assert (root / "cmd" / project.service_name / "main.go").is_file()
    for package in PLATFORM_PACKAGES:
        go_files = list((root / "internal" / "platform" / package).glob("*.go"))
        assert go_files, f"internal/platform/{package} has no Go files"
    for layer in CONTEXT_LAYERS:
        assert list((project.context_dir / layer).rglob("*.go")), f"no Go files in {layer}"
    assert (root / "api" / "openapi.yaml").is_file()
    assert (root / "go.mod").is_file()


def test_example_domain_files_follow_the_answer(project: Project) -> None:
    aggregate_file = project.context_dir / "domain" / f"{project.values['aggregate_name']}.go"
    memory = project.context_dir / "infrastructure" / "memory"
    context_go_files = sorted(project.context_dir.rglob("*.go"))
    if project.values["example_domain"]:
        assert aggregate_file.is_file()
        assert (memory / "repository.go").is_file()
    else:
        assert not aggregate_file.exists()
        assert not memory.exists()
        # Only each layer's package documentation stays.
        not_docs = [path for path in context_go_files if path.name != "doc.go"]
        assert not_docs == []


def test_no_jinja_left_over(project: Project) -> None:
    leftovers: list[str] = []
    for path in files(project):
        relative = path.relative_to(project.path).as_posix()
        if path.suffix == ".jinja" or "{{" in relative or "{%" in relative:
            leftovers.append(f"{relative}: template syntax in the file name")
            continue
        if path.suffix in BINARY_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            if LEFTOVER_JINJA.search(line) and not GRAFANA_LEGEND.match(line):
                leftovers.append(f"{relative}:{number}: {line.strip()}")
    assert leftovers == []


def test_go_files_are_gofmt_clean_as_rendered(project: Project) -> None:
    result = run_tool(["gofmt", "-l", "."], cwd=project.path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", f"files gofmt would change:\n{result.stdout}"


def test_yaml_and_json_files_parse(project: Project) -> None:
    parsed = 0
    for path in files(project):
        if path.suffix in BINARY_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix in {".yaml", ".yml"}:
            list(yaml.safe_load_all(text))
            parsed += 1
        elif path.suffix == ".json":
            json.loads(text)
            parsed += 1
    assert parsed >= 2  # at least the answers file and the OpenAPI spec


def test_answers_file_records_the_answers(project: Project) -> None:
    recorded = yaml.safe_load((project.path / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert recorded["_src_path"]
    assert recorded["_commit"]
    for key, value in project.answer_set.answers.items():
        assert recorded[key] == value, key
    # A value the user may correct is a question, so the next update keeps it; computed
    # values are derived again on update, never recorded.
    assert recorded["aggregate_plural"] == project.values["aggregate_plural"]
    assert "aggregate_type" not in recorded


def test_go_mod_has_module_path_and_go_version(project: Project) -> None:
    lines = (project.path / "go.mod").read_text(encoding="utf-8").splitlines()
    assert f"module {project.values['module_path']}" in lines
    # `go 1.25` is written as `go 1.25.0`, the version the pinned dependencies declare, so
    # that go.mod is tidy as rendered; the release is the same.
    go_version = project.values["go_version"]
    assert f"go {go_version}" in lines or (
        go_version.count(".") == 1 and f"go {go_version}.0" in lines
    )


def test_readme_says_the_example_is_inventory_whatever_its_names(project: Project) -> None:
    """A renamed aggregate (box, shipment) keeps the example's inventory words: the README
    says so, and says how to rename or delete it; a skeleton has no such section."""
    readme = (project.path / "README.md").read_text(encoding="utf-8")
    if not project.values["example_domain"]:
        assert "## The example context" not in readme
        return
    section = readme.split("## The example context", 1)[1].split("\n## ", 1)[0]
    aggregate = project.values["aggregate_name"]
    assert "**inventory example**" in section
    assert f'{aggregate} "sku-1" has 7 available' in section
    assert "rename its\nwords" in section and "or delete it:" in section
    assert "example_domain=false" in section


def test_the_form_says_the_example_is_an_inventory_example() -> None:
    config = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    help_text = " ".join(config["example_domain"]["help"].split())
    assert "It is an inventory example" in help_text
    assert "rename them or delete it" in help_text
