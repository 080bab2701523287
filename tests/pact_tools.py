"""libpact_ffi, Pact's native core, for the contract tests: fetched once from the npm
registry and cached, the way a generated project fetches it.

The library is the one pact-go v2.4.2 is built against (libpact_ffi 0.4.28; newer ones
dropped functions it links). A generated project's `make pact-ffi` takes it from the npm
package @pact-foundation/pact-core-<os>-<arch> (`npm pack`, no install scripts); the test
set-up runs that very target, with PACT_LIB_DIR in the tools cache
(``<cache>/libpact_ffi-<version>/``, see gosvc.components.tools_root), under a file lock so
parallel workers fetch it once. A warm run finds the file; a cold one needs npm and the
npm registry, nothing installed by hand.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from delivery_tools import ToolUnavailable
from filelock import FileLock
from gosvc.components import tools_root
from support import Project, run_tool

LIBPACT_FFI_VERSION = "0.4.28"
LIBRARY = "libpact_ffi.so"


def libpact_ffi_dir(project: Project) -> Path:
    """The folder holding libpact_ffi.so, fetched with `make pact-ffi` of `project` (which
    writes nothing into the project) when the cache does not have it yet."""
    folder = tools_root() / f"libpact_ffi-{LIBPACT_FFI_VERSION}"
    if (folder / LIBRARY).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(folder.parent / f".{folder.name}.lock"):
        if not (folder / LIBRARY).is_file():
            if shutil.which("npm") is None:
                raise ToolUnavailable("npm is not on PATH: .ci/run installs it (Debian's npm)")
            result = run_tool(
                ["make", "pact-ffi", f"PACT_LIB_DIR={folder}"], cwd=project.path, timeout=600
            )
            if result.returncode != 0 or not (folder / LIBRARY).is_file():
                raise ToolUnavailable(
                    f"make pact-ffi failed:\n{result.stdout}{result.stderr}"
                    "check that the npm registry is reachable and retry"
                )
    return folder


def pact_cli() -> Path:
    """The `pact` CLI of the pact-python-cli wheel (a dev dependency), beside the
    interpreter: the broker client and verifier the generated CI installs by name."""
    cli = Path(sys.executable).parent / "pact"
    if not cli.is_file():
        raise ToolUnavailable("no pact CLI in the venv: make .venv/.installed installs it")
    return cli


def pact_env(**extra: str) -> dict[str, str]:
    """The environment of a contract test run: no broker settings of the caller's, no
    usage reports, and not CI (which would publish verification results)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PACT_") and name != "CI"
    }
    env["PACT_DO_NOT_TRACK"] = "true"
    env.update(extra)
    return env
