"""The servers `gosvc bench` measures a service against, built from Go sources in this package.

- baseline: a bare net/http server (standard library only), built into the run's scratch
  folder every time: it compiles in a second or two.
- go-zero: a go-zero rest server at a pinned version with its default middleware chain.
  It links a few hundred packages (minutes on a busy machine), so it is built once from
  the Go module proxy in a temporary module and kept in
  ``<cache>/gozero-bench-<version>-<go version>/`` (``<cache>`` is
  ``$COPIER_GO_SERVICE_TOOLS`` or ``~/.cache/copier-go-service/tools``, where the
  template's tests keep their tools too). A file lock makes concurrent runs build it once.

Both serve one GET route with the bytes of a file, so they answer exactly what the
generated service answers, and nothing about the route is faster for them.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gosvc.components import tools_root
from gosvc.errors import GosvcError, ToolMissingError

SOURCES = Path(__file__).resolve().parent / "gosrc"
GOZERO_MODULE = "github.com/zeromicro/go-zero"
GOZERO_VERSION = "v1.9.3"


def go() -> str:
    found = shutil.which("go")
    if found is None:
        raise ToolMissingError("go not found on PATH; install Go 1.25 or later")
    return found


@functools.cache
def go_version() -> str:
    result = subprocess.run([go(), "env", "GOVERSION"], capture_output=True, text=True, check=False)
    version = result.stdout.strip()
    if result.returncode != 0 or not version:
        raise ToolMissingError(f"`go env GOVERSION` failed: {result.stderr.strip()}")
    return version


def _env() -> dict[str, str]:
    # A main module of its own: no workspace, -mod flag or cgo of the caller applies.
    return {**os.environ, "GOWORK": "off", "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0"}


def _run(argv: list[str], cwd: Path, what: str) -> None:
    result = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise GosvcError(f"building {what} failed ({' '.join(argv)}): {output[-2000:]}")


def build_baseline(scratch: Path) -> Path:
    """The bare net/http server, built into `scratch`."""
    module = scratch / "baseline-src"
    module.mkdir()
    shutil.copy(SOURCES / "baseline" / "main.go", module / "main.go")
    (module / "go.mod").write_text("module gosvcbench/baseline\n\ngo 1.25\n", encoding="utf-8")
    binary = scratch / "baseline"
    _run([go(), "build", "-trimpath", "-o", str(binary), "."], module, "the net/http baseline")
    return binary


def gozero_binary() -> Path:
    """The go-zero server, from the cache or built into it now (once per Go version)."""
    final = tools_root() / f"gozero-bench-{GOZERO_VERSION}-{go_version()}"
    binary = final / "gozero-bench"
    if binary.is_file():
        return binary
    final.parent.mkdir(parents=True, exist_ok=True)
    with _locked(final.parent / f".{final.name}.lock"):
        if binary.is_file():  # built by another run while this one waited
            return binary
        scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            shutil.copy(SOURCES / "gozero" / "main.go", scratch / "main.go")
            (scratch / "go.mod").write_text(
                "module gosvcbench/gozero\n\ngo 1.25\n", encoding="utf-8"
            )
            what = f"the go-zero server ({GOZERO_MODULE}@{GOZERO_VERSION})"
            _run([go(), "get", f"{GOZERO_MODULE}@{GOZERO_VERSION}"], scratch, what)
            _run([go(), "mod", "tidy"], scratch, what)
            _run([go(), "build", "-trimpath", "-o", "gozero-bench", "."], scratch, what)
            # A rename: a build that fails or is killed half-way leaves no cached folder.
            scratch.rename(final)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return binary


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
