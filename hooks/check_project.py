"""Copier task: check the project Copier just generated (the working directory).

Runs in Copier's interpreter, where the gosvc package may not be installed, so it loads
the checks module by path from the template checkout next to this file. It fails only for
a real defect of the generated project: Copier deletes a new project whose task fails.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
CHECKS_FILE = TEMPLATE_ROOT / "generator" / "gosvc" / "checks.py"

# `copier update` renders the old and the new template version into temporary folders
# with these name prefixes, running the tasks there too.
SCRATCH_PREFIXES = ("copier._main.old_copy.", "copier._main.new_copy.")


def load_checks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gosvc_checks", CHECKS_FILE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {CHECKS_FILE}")
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is created.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def is_update_scratch_copy(project: Path, checks: ModuleType) -> bool:
    """True in the two temporary renders of `copier update`.

    Copier refuses to update a project outside git, and creates the scratch folders'
    repositories only after their tasks ran, so the real destination is the one inside a
    git work tree.
    """
    if any(part.startswith(SCRATCH_PREFIXES) for part in project.parts):
        return True
    return not checks.in_git_work_tree(project)


def main(argv: list[str]) -> int:
    operation = argv[1] if len(argv) > 1 else "copy"
    project = Path.cwd()
    if operation == "update":
        # The real destination's task runs after Copier re-rendered the template over the
        # project but before it merges the user's changes back: checking that
        # intermediate tree could fail a correct update half-way. Check the merged result.
        if not is_update_scratch_copy(project, load_checks()):
            print(
                "The project checks run on the merged result, not during the update: "
                f"afterwards resolve any conflicts and run `gosvc check {project}` "
                "(gosvc update does both)."
            )
        return 0

    code: int = load_checks().check_new_project(project)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
