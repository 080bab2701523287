"""Delivery, container: the generated Dockerfile passes hadolint, has the shape the README
promises (multi-stage, module download in its own layer, static stripped and stamped
binary, distroless nonroot), and its build stage really builds the service from the
context .dockerignore lets through. No Docker engine is here: no image is built or run."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import pytest
from delivery_support import (
    PRIVATE,
    arg_defaults,
    dockerfile_stages,
    is_static_elf,
    run_build_stage,
    strip_run_flags,
)
from delivery_tools import hadolint
from gosvc.matrix import AnswerSet
from support import DEFAULTS, MATRIX, Project, RenderSet, run_tool

pytestmark = pytest.mark.delivery

NONROOT_UID = "65532"


def host_target() -> dict[str, str]:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return {"TARGETOS": "linux", "TARGETARCH": arch}


@pytest.mark.parametrize("answer_set", [*MATRIX, PRIVATE], ids=lambda answer_set: answer_set.name)
def test_hadolint_reports_nothing(answer_set: AnswerSet, rendered_set: RenderSet) -> None:
    project = rendered_set(answer_set)
    result = run_tool([str(hadolint()), "--no-color", "Dockerfile"], cwd=project.path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_dockerfile_has_the_hardened_multi_stage_shape(rendered_set: RenderSet) -> None:
    project = rendered_set(DEFAULTS)
    global_args, stages = dockerfile_stages((project.path / "Dockerfile").read_text())
    service = project.service_name

    assert len(stages) == 2, "a build stage and a runtime stage"
    build, runtime = stages
    assert build.name == "build"
    assert build.base == f"golang:{project.values['go_version']}"
    assert not global_args, "no build args before FROM: the base image tags stay literal"
    # Cross-compiling on the builder's platform: no emulation for other targets.
    assert build.platform == "$BUILDPLATFORM"

    # Modules are downloaded in a layer that depends only on go.mod and go.sum.
    keywords = [(item.keyword, item.arguments) for item in build.instructions]
    first_copy = next(i for i, (kw, _) in enumerate(keywords) if kw == "COPY")
    assert keywords[first_copy][1].split() == ["go.mod", "go.sum*", "./"]
    download = next(i for i, (kw, args) in enumerate(keywords) if "go mod download" in args)
    source_copy = next(i for i, (kw, args) in enumerate(keywords) if (kw, args) == ("COPY", ". ."))
    assert first_copy < download < source_copy

    go_build = next(item for item in build.all("RUN") if "go build" in item.arguments)
    command = strip_run_flags(go_build.arguments)
    assert "CGO_ENABLED=0" in command
    assert "-trimpath" in command
    ldflags = re.search(r'-ldflags "([^"]+)"', command)
    assert ldflags is not None, command
    assert {"-s", "-w"} <= set(ldflags.group(1).split())
    assert "-X main.version=${VERSION}" in ldflags.group(1)
    assert f"./cmd/{service}" in command
    assert "VERSION" in arg_defaults(build)

    assert re.fullmatch(r"gcr\.io/distroless/static-debian\d+:nonroot", runtime.base), runtime.base
    [user] = runtime.all("USER")
    assert user.arguments == f"{NONROOT_UID}:{NONROOT_UID}", "numeric, so runAsNonRoot can check"
    [copy] = runtime.all("COPY")
    source, target = copy.arguments.removeprefix("--from=build ").split()
    [entrypoint] = runtime.all("ENTRYPOINT")
    assert entrypoint.arguments == f'["{target}"]', "exec form, the copied binary"
    [expose] = runtime.all("EXPOSE")
    assert expose.arguments == str(project.values["http_port"])
    assert not runtime.all("RUN"), "the runtime image has no shell to run anything with"
    assert source.endswith(f"/bin/{service}")


def test_build_stage_builds_a_static_stamped_binary_from_the_filtered_context(
    rendered_set: RenderSet, tmp_path: Path
) -> None:
    project: Project = rendered_set(DEFAULTS)
    stage = run_build_stage(
        project.path,
        tmp_path,
        build_args={**host_target(), "VERSION": "v9.8.7-delivery", "COMMIT": "c0ffee"},
        env=dict(os.environ),
    )
    # What .dockerignore lets through: the Go sources and go.mod, nothing else.
    assert "go.mod" in stage.sent
    assert not [path for path in stage.sent if path.startswith((".git", "bin/", "deploy/"))]
    assert not [path for path in stage.sent if path.endswith("_test.go")]

    _, stages = dockerfile_stages((project.path / "Dockerfile").read_text())
    [copy] = stages[1].all("COPY")
    source = copy.arguments.removeprefix("--from=build ").split()[0]
    binary = stage.root / source.lstrip("/")
    assert binary.is_file(), f"the runtime stage copies {source}, which the build did not make"
    assert is_static_elf(binary), "CGO_ENABLED=0 must give a binary with no dynamic loader"
    data = binary.read_bytes()
    assert b"v9.8.7-delivery" in data, "VERSION was not stamped into main.version"
    assert b"c0ffee" in data, "COMMIT was not stamped into main.commit"
    # -trimpath: no path of the build machine is left in the binary.
    assert str(stage.root).encode() not in data
    # -s -w: no DWARF and no symbol table sections.
    assert b".debug_info" not in data and b".symtab" not in data
