"""Helpers of the delivery tests: what the generated service really does (read from its
code), its manifests as kubectl kustomize builds them, its Makefile's variables and a
small reader of its Dockerfile and .dockerignore.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from delivery_tools import ensure_k8sdecode
from gosvc.matrix import AnswerSet
from support import Project, run_tool

ENVIRONMENTS = ("dev", "staging", "prod")

# A service whose modules come from a private proxy and checksum database (not part of
# the build matrix: those hosts do not exist, so it renders but cannot download).
PRIVATE = AnswerSet(
    "private-modules",
    {
        "service_name": "ledger",
        "module_path": "git.corp.example/payments/ledger",
        "goproxy": "https://goproxy.corp.example/go,off",
        "goprivate": "git.corp.example/*,*.internal.example",
        "gonosumdb": "git.corp.example",
        "gosumdb": "sum.corp.example+1a2b3c4d+AbCdEf0123456789/+= https://sum.corp.example",
    },
)
# Go environment variable -> the question that sets it.
MODULE_SETTINGS = {
    "GOPROXY": "goproxy",
    "GOPRIVATE": "goprivate",
    "GONOSUMDB": "gonosumdb",
    "GOSUMDB": "gosumdb",
}

# Go's time.ParseDuration units, in seconds.
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_duration_seconds(text: str) -> float:
    """Parse a Go duration such as 5s, 1m30s or 250ms (the syntax SHUTDOWN_TIMEOUT takes)."""
    if text == "0":
        return 0.0
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"not a Go duration: {text!r}")
    return total


@dataclass(frozen=True)
class ServiceDefaults:
    """What the generated code does with no environment set."""

    http_port: int
    admin_port: int
    drain_delay: float
    shutdown_timeout: float
    readiness_check_timeout: float


# Compiled inside a copy of the generated module (internal packages are importable only
# from within it): it prints the config package's defaults, so the tests compare the
# manifests with the code itself rather than with a copy of its numbers.
_DEFAULTS_PROBE = """\
package main

import (
	"encoding/json"
	"net"
	"os"

	"{module}/internal/platform/config"
	"{module}/internal/platform/health"
)

func main() {{
	cfg, err := config.Load(func(string) (string, bool) {{ return "", false }})
	if err != nil {{
		panic(err)
	}}
	_, httpPort, _ := net.SplitHostPort(cfg.HTTPAddr)
	_, adminPort, _ := net.SplitHostPort(cfg.AdminAddr)
	out := map[string]any{{
		"http_port":               httpPort,
		"admin_port":              adminPort,
		"drain_delay":             cfg.DrainDelay.Seconds(),
		"shutdown_timeout":        cfg.ShutdownTimeout.Seconds(),
		"readiness_check_timeout": health.DefaultCheckTimeout.Seconds(),
	}}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {{
		panic(err)
	}}
}}
"""


@functools.cache
def service_defaults(project_path: Path, module_path: str) -> ServiceDefaults:
    with tempfile.TemporaryDirectory(prefix="delivery-defaults-") as scratch:
        copy = Path(scratch) / "module"
        shutil.copytree(project_path, copy, ignore=shutil.ignore_patterns(".git", "bin"))
        probe = copy / "cmd" / "deliverydefaults"
        probe.mkdir(parents=True)
        (probe / "main.go").write_text(_DEFAULTS_PROBE.format(module=module_path))
        result = run_tool(["go", "run", "./cmd/deliverydefaults"], cwd=copy, timeout=300)
    assert result.returncode == 0, f"reading the config defaults failed:\n{result.stderr}"
    values = json.loads(result.stdout)
    return ServiceDefaults(
        http_port=int(values["http_port"]),
        admin_port=int(values["admin_port"]),
        drain_delay=float(values["drain_delay"]),
        shutdown_timeout=float(values["shutdown_timeout"]),
        readiness_check_timeout=float(values["readiness_check_timeout"]),
    )


def defaults_of(project: Project) -> ServiceDefaults:
    return service_defaults(project.path, str(project.values["module_path"]))


# ------------------------------------------------------------------------ manifests


def manifests_text(
    project: Project, environment: str, image: str | None = None, version: str | None = None
) -> str:
    """`make manifests ENV=... [IMAGE=...] [VERSION=...]` of the generated project, as text."""
    return _make_manifests(project.path, environment, image, version)


@functools.cache  # rendered projects are not modified, so one build per overlay will do
def _make_manifests(
    project_path: Path, environment: str, image: str | None, version: str | None
) -> str:
    args = ["make", "--no-print-directory", "manifests", f"ENV={environment}"]
    if image is not None:
        args.append(f"IMAGE={image}")
    if version is not None:
        args.append(f"VERSION={version}")
    # render.sh writes a scratch kustomization inside the project while it runs: run it in
    # a private copy, so tests reading the shared render never see it come and go.
    with tempfile.TemporaryDirectory(prefix="delivery-manifests-") as scratch:
        copy = Path(scratch) / "project"
        shutil.copytree(project_path, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        result = run_tool(args, cwd=copy, timeout=120)
    assert result.returncode == 0, f"make manifests ENV={environment} failed:\n{result.stderr}"
    return result.stdout


def manifests(
    project: Project, environment: str, image: str | None = None, version: str | None = None
) -> list[dict[str, Any]]:
    objects = [
        document
        for document in yaml.safe_load_all(manifests_text(project, environment, image, version))
        if document
    ]
    assert objects, f"{environment}: no objects"
    return objects


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [item for item in objects if item["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def kinds(objects: list[dict[str, Any]]) -> set[str]:
    return {str(item["kind"]) for item in objects}


# ------------------------------------------------------------------------- Makefile


def make_variable(project: Project, name: str, env: dict[str, str] | None = None) -> str:
    """The value a Makefile variable has when a recipe runs (after ?= and the environment)."""
    return _printed_by_recipe(project, f"'$({name})'", env)


def make_exported(project: Project, name: str, env: dict[str, str]) -> str:
    """The value the environment of a recipe sees for `name` (what `go` would read)."""
    return _printed_by_recipe(project, f'"$${name}"', env)


def _printed_by_recipe(project: Project, quoted: str, env: dict[str, str] | None) -> str:
    """What a one-line recipe added to the project's Makefile prints with printf."""
    rule = f"print-delivery-value: ; @printf '%s' {quoted}"
    result = run_tool(
        ["make", "--no-print-directory", "--eval", rule, "print-delivery-value"],
        cwd=project.path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def environment_without(*names: str) -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in names}


# ------------------------------------------------------------------------ Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    platform: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [item for item in self.instructions if item.keyword == keyword]


def dockerfile_instructions(text: str) -> Iterator[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        joined = " ".join(part for part in pending if part)
        pending = []
        keyword, _, arguments = joined.partition(" ")
        yield Instruction(keyword.upper(), arguments.strip(), start)


def dockerfile_stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults (before the first FROM) and the stages in order."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in dockerfile_instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            platform = None
            if words[0].startswith("--platform="):
                platform = words.pop(0).removeprefix("--platform=")
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name, platform=platform, instructions=[]))
        elif not stages:
            if instruction.keyword == "ARG":
                key, _, value = instruction.arguments.partition("=")
                global_args[key] = unquote(value)
        else:
            stages[-1].instructions.append(instruction)
    return global_args, stages


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def arg_defaults(stage: Stage) -> dict[str, str]:
    defaults: dict[str, str] = {}
    for instruction in stage.all("ARG"):
        key, sep, value = instruction.arguments.partition("=")
        if sep:
            defaults[key] = unquote(value)
    return defaults


def strip_run_flags(arguments: str) -> str:
    """A RUN's shell command without its --mount/--network/--security flags."""
    words = arguments.split(" ")
    while words and words[0].startswith("--"):
        words.pop(0)
    return " ".join(words)


# --------------------------------------------------------------------- .dockerignore


def dockerignore_patterns(text: str) -> list[tuple[bool, str]]:
    """(exclude, pattern) pairs in order; a leading '!' re-includes."""
    patterns: list[tuple[bool, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        patterns.append((exclude, pattern))
    return patterns


def _pattern_matches(pattern: str, path: PurePosixPath) -> bool:
    """Docker's rule: a pattern matches a path or any of its parent directories. `*`
    stays within one path element; `**` spans any number of them."""
    candidates = [path, *[parent for parent in path.parents if str(parent) != "."]]
    parts = pattern.split("/")
    return any(_match_parts(parts, candidate.parts) for candidate in candidates)


def _match_parts(pattern: list[str], parts: tuple[str, ...]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match_parts(pattern[1:], parts[index:]) for index in range(len(parts) + 1))
    if not parts:
        return False
    return fnmatch.fnmatchcase(parts[0], pattern[0]) and _match_parts(pattern[1:], parts[1:])


def build_context(project_path: Path, dockerignore: str, destination: Path) -> list[str]:
    """Copy what `docker build` would send (per .dockerignore) into destination."""
    patterns = dockerignore_patterns(dockerignore)
    sent: list[str] = []
    for path in sorted(project_path.rglob("*")):
        if not path.is_file():
            continue
        relative = PurePosixPath(path.relative_to(project_path).as_posix())
        excluded = False
        for exclude, pattern in patterns:
            if _pattern_matches(pattern, relative):
                excluded = exclude
        if excluded:
            continue
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        sent.append(str(relative))
    return sent


def is_static_elf(binary: Path) -> bool:
    """True for an ELF executable with no program interpreter (no dynamic loader)."""
    data = binary.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only, which is all Go targets here
        raise ValueError(f"{binary} is not a 64-bit ELF file")
    order: Literal["little", "big"] = "little" if data[5] == 1 else "big"
    phoff = int.from_bytes(data[32:40], order)
    phentsize = int.from_bytes(data[54:56], order)
    phnum = int.from_bytes(data[56:58], order)
    pt_interp = 3
    for index in range(phnum):
        offset = phoff + index * phentsize
        if int.from_bytes(data[offset : offset + 4], order) == pt_interp:
            return False
    return True


@dataclass(frozen=True)
class BuildStageResult:
    root: Path  # stands for the build stage's filesystem root
    workdir: Path
    sent: list[str]  # the files of the build context
    log: str


def run_build_stage(
    project_path: Path, scratch: Path, build_args: dict[str, str], env: dict[str, str]
) -> BuildStageResult:
    """Carry out the Dockerfile's first stage on this machine, as BuildKit would: the build
    context filtered by .dockerignore, ARG defaults overridden by `build_args`, WORKDIR,
    COPY and RUN in order (RUN's --mount flags dropped: caches and secrets are
    optimisations and optional credentials). No image is built; the stage's commands are.
    """
    text = (project_path / "Dockerfile").read_text(encoding="utf-8")
    _, stages = dockerfile_stages(text)
    stage = stages[0]
    context = scratch / "context"
    sent = build_context(project_path, (project_path / ".dockerignore").read_text(), context)
    root = scratch / "root"
    workdir = root
    values = {**env, **arg_defaults(stage), **build_args}
    log: list[str] = []
    for instruction in stage.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = root / instruction.arguments.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY":
            *sources, target = instruction.arguments.split()
            destination = workdir / target
            destination.mkdir(parents=True, exist_ok=True)
            for source in sources:
                matches = [context] if source == "." else sorted(context.glob(source))
                for match in matches:
                    if match.is_dir():
                        shutil.copytree(match, destination, dirs_exist_ok=True)
                    else:
                        shutil.copy2(match, destination / match.name)
        elif instruction.keyword == "RUN":
            command = strip_run_flags(instruction.arguments)
            result = run_tool(["sh", "-c", command], cwd=workdir, env=values, timeout=600)
            log.append(f"$ {command}\n{result.stdout}{result.stderr}")
            if result.returncode != 0:
                raise AssertionError(f"RUN at Dockerfile:{instruction.line} failed:\n" + log[-1])
    return BuildStageResult(root=root, workdir=workdir, sent=sent, log="\n".join(log))


def decode_strictly(text: str) -> subprocess.CompletedProcess[str]:
    """Feed manifests to the strict decoder (tests/k8sdecode): one `ok Kind/name` line per
    object, or exit 1 naming the first document with an unknown, duplicate or mistyped
    field or an unknown kind."""
    return subprocess.run(
        [str(ensure_k8sdecode())],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
