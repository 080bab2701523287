"""Copier task: check the project `copier copy` just generated (the working directory).

copier.yml runs this task on copy only (`when`), so it never sees an update's temporary
copies. It runs in Copier's interpreter, where the gosvc package may not be installed, so
it loads the checks module by path from the template checkout next to this file. It fails
only for a defect of the generated code: Copier deletes a new project whose task fails, and
a missing toolchain or an unreachable module proxy is no reason to lose it.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path, PureWindowsPath
from types import ModuleType

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
# In a checkout; in gosvc's wheel the template is gosvc/_template, beside checks.py.
CHECKS_FILE = next(
    (
        path
        for path in (
            TEMPLATE_ROOT / "generator" / "gosvc" / "checks.py",
            TEMPLATE_ROOT.parent / "checks.py",
        )
        if path.is_file()
    ),
    TEMPLATE_ROOT / "generator" / "gosvc" / "checks.py",
)
ANSWERS_FILE = ".copier-answers.yml"
_SRC_PATH = re.compile(r"^_src_path:\s*(.+?)\s*$", re.MULTILINE)
# A URL or scp-like git address: Copier finds those from anywhere.
_REMOTE = re.compile(r"^(?![A-Za-z]:[\\/])([A-Za-z][\w+.-]*:|[\w.-]+@[\w.-]+:)")


def load_checks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gosvc_checks", CHECKS_FILE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {CHECKS_FILE}")
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is created.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def relative_template_path(project: Path) -> str | None:
    """The answers file's `_src_path` when it is a relative local path, else None.

    Copier records the template path as it was typed; `copier update` resolves it from
    wherever it runs, so a relative one (`.`, `../template`) no longer finds the template.
    """
    try:
        text = (project / ANSWERS_FILE).read_text(encoding="utf-8")
    except OSError:
        return None
    found = _SRC_PATH.search(text)
    if found is None:
        return None
    src = found.group(1).strip("'\"")
    if _REMOTE.match(src) or Path(src).is_absolute() or PureWindowsPath(src).is_absolute():
        return None
    return src


def main() -> int:
    project = Path.cwd()
    relative = relative_template_path(project)
    if relative is not None:
        print(
            f"warning: {ANSWERS_FILE} records the template as '{relative}', a path relative "
            "to where copier ran, so `copier update` will not find it from the project: set "
            "_src_path there to the template's absolute path or git URL, and commit it.",
            file=sys.stderr,
        )
    code: int = load_checks().check_new_project(project)
    return code


if __name__ == "__main__":
    sys.exit(main())
