"""Delivery, private and air-gapped builds: the GOPROXY/GOPRIVATE/GONOSUMDB/GOSUMDB
answers reach the Makefile, the Dockerfile and the CI workflow alike, and `make vendor`
makes a project build with the module proxy switched off, with the template's pinned
dependencies and with one more of the user's, through `make build` and through the
Dockerfile's build stage."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from delivery_support import (
    MODULE_SETTINGS,
    PRIVATE,
    arg_defaults,
    dockerfile_stages,
    environment_without,
    make_exported,
    run_build_stage,
)
from support import DEFAULTS, Project, RenderSet, run_tool

pytestmark = pytest.mark.delivery

PUBLIC = {
    "goproxy": "https://proxy.golang.org,direct",
    "goprivate": "",
    "gonosumdb": "",
    "gosumdb": "sum.golang.org",
}
# Modules the generated go.mod requires directly (a sample; go.mod has the full list).
PINNED = (
    "github.com/KimMachineGun/automemlimit",
    "go.opentelemetry.io/otel",
    "go.opentelemetry.io/otel/sdk",
    "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp",
    "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
)
# A small real dependency whose go.mod asks for no newer Go than the template's minimum. It
# is the version the pinned modules already select, so `go get` changes no other pin.
DEPENDENCY = "golang.org/x/sync"
DEPENDENCY_VERSION = "v0.22.0"


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


def assert_module_settings(project: Project, expected: dict[str, str]) -> None:
    clean = environment_without(*MODULE_SETTINGS)
    # Makefile: what a recipe's `go` sees, with nothing set in the environment...
    for variable, question in MODULE_SETTINGS.items():
        assert make_exported(project, variable, clean) == expected[question], variable
    # ...and the environment still wins, e.g. GOPROXY=off for an offline vendored build.
    assert make_exported(project, "GOPROXY", {**clean, "GOPROXY": "off"}) == "off"

    # Dockerfile: the build stage's ARG defaults.
    _, stages = dockerfile_stages((project.path / "Dockerfile").read_text(encoding="utf-8"))
    build_args = arg_defaults(stages[0])
    for variable, question in MODULE_SETTINGS.items():
        assert build_args[variable] == expected[question], variable
    # make docker-build passes the Makefile's values on as build args.
    dry_run = run_tool(["make", "-n", "docker-build"], cwd=project.path, env=clean)
    assert dry_run.returncode == 0, dry_run.stderr
    for variable, question in MODULE_SETTINGS.items():
        assert f'--build-arg {variable}="{expected[question]}"' in dry_run.stdout, variable

    # CI: workflow-level env, and handed to the image build as build args.
    workflow = load(project.path / ".github" / "workflows" / "ci.yml")
    for variable, question in MODULE_SETTINGS.items():
        assert workflow["env"][variable] == expected[question], variable
    build = next(
        step
        for step in workflow["jobs"]["image"]["steps"]
        if str(step.get("uses", "")).startswith("docker/build-push-action@")
    )
    for variable in MODULE_SETTINGS:
        assert f"{variable}=${{{{ env.{variable} }}}}" in build["with"]["build-args"], variable


def test_public_defaults_everywhere(rendered_set: RenderSet) -> None:
    project = rendered_set(DEFAULTS)
    assert_module_settings(project, PUBLIC)
    # No private credentials are wired in for public modules.
    workflow_text = (project.path / ".github" / "workflows" / "ci.yml").read_text()
    assert "GO_NETRC" not in workflow_text


def test_private_answers_reach_makefile_dockerfile_and_workflow(rendered_set: RenderSet) -> None:
    project = rendered_set(PRIVATE)
    assert_module_settings(project, PRIVATE.answers)

    # Credentials for the private proxy: a .netrc from the GO_NETRC secret in CI, and a
    # BuildKit secret mounted only while modules download in the image build.
    workflow = load(project.path / ".github" / "workflows" / "ci.yml")
    for job in ("lint", "test", "vuln"):
        steps = workflow["jobs"][job]["steps"]
        setup = next(step for step in steps if step.get("uses", "").endswith("setup-go"))
        assert setup["with"]["netrc"] == "${{ secrets.GO_NETRC }}", job
    build = next(
        step
        for step in workflow["jobs"]["image"]["steps"]
        if str(step.get("uses", "")).startswith("docker/build-push-action@")
    )
    assert build["with"]["secrets"].strip() == "netrc=${{ secrets.GO_NETRC }}"
    action = load(project.path / ".github" / "actions" / "setup-go" / "action.yml")
    assert "netrc" in action["inputs"]
    _, stages = dockerfile_stages((project.path / "Dockerfile").read_text(encoding="utf-8"))
    [download] = [run for run in stages[0].all("RUN") if "go mod download" in run.arguments]
    assert "--mount=type=secret,id=netrc,target=/root/.netrc" in download.arguments


def offline_env(module_cache: Path) -> dict[str, str]:
    """No proxy, no direct fetches and an empty module cache: only vendor/ can help."""
    env = environment_without(*MODULE_SETTINGS, "GOFLAGS")
    env.update(GOPROXY="off", GOFLAGS="-mod=vendor", GOMODCACHE=str(module_cache))
    return env


def test_vendor_of_the_pinned_dependencies_builds_with_the_proxy_off(
    fresh_project: Project, tmp_path: Path
) -> None:
    project = fresh_project
    vendored = run_tool(["make", "vendor"], cwd=project.path)
    assert vendored.returncode == 0, vendored.stderr
    # Every module the template pins (the runtime and telemetry platform packages use
    # them) is copied into vendor/.
    modules = (project.path / "vendor" / "modules.txt").read_text(encoding="utf-8")
    for module in PINNED:
        assert f"# {module} " in modules, module

    cache = tmp_path / "empty-module-cache"
    built = run_tool(["make", "build"], cwd=project.path, env=offline_env(cache))
    assert built.returncode == 0, built.stdout + built.stderr
    assert not any(cache.rglob("*.mod")), "nothing was downloaded"


def test_vendor_with_a_dependency_builds_offline_from_vendor_alone(
    fresh_project: Project, tmp_path: Path
) -> None:
    project = fresh_project
    main_dir = project.path / "cmd" / project.service_name
    (main_dir / "vendored.go").write_text(f'package main\n\nimport _ "{DEPENDENCY}/errgroup"\n')
    got = run_tool(["go", "get", f"{DEPENDENCY}@{DEPENDENCY_VERSION}"], cwd=project.path)
    assert got.returncode == 0, got.stderr
    vendored = run_tool(["make", "vendor"], cwd=project.path)
    assert vendored.returncode == 0, vendored.stderr
    assert (project.path / "vendor" / "modules.txt").is_file()

    offline = offline_env(tmp_path / "empty-module-cache")
    built = run_tool(["make", "build"], cwd=project.path, env=offline)
    assert built.returncode == 0, built.stdout + built.stderr
    assert not any((tmp_path / "empty-module-cache").rglob("*.mod")), "nothing was downloaded"

    # The image build: the download step is skipped and the build uses vendor/.
    stage = run_build_stage(
        project.path,
        tmp_path / "docker",
        build_args={"GOFLAGS": "-mod=vendor", "GOPROXY": "off", "TARGETOS": "", "TARGETARCH": ""},
        env=offline,
    )
    assert "no download" in stage.log
    assert any(path.startswith("vendor/") for path in stage.sent)

    # The control: without vendor/ the same offline build fails, so the passes above
    # were vendor's doing.
    shutil.rmtree(project.path / "vendor")
    failed = run_tool(["make", "build"], cwd=project.path, env={**offline, "GOFLAGS": ""})
    assert failed.returncode != 0
    assert "GOPROXY=off" in failed.stderr or "module lookup disabled" in failed.stderr
