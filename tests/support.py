"""Constants and helpers the template's tests share: the checkout, its matrix, rendering
and running the CLIs the way a user does.

Projects are rendered through gosvc's own render path (Copier's API, tasks skipped).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gosvc.matrix import AnswerSet, load_matrix
from gosvc.render import render_project
from gosvc.template import TemplateSource

REPO_ROOT = Path(__file__).resolve().parent.parent
MATRIX_FILE = REPO_ROOT / "tests" / "matrix.yml"
MATRIX = load_matrix(MATRIX_FILE)
DEFAULTS = next(answer_set for answer_set in MATRIX if not answer_set.answers)
# HEAD plus uncommitted changes: the template as it is in this checkout.
SOURCE = TemplateSource(str(REPO_ROOT), "HEAD")


@dataclass(frozen=True)
class Project:
    """A rendered project and every question's value (computed ones included)."""

    answer_set: AnswerSet
    path: Path
    values: dict[str, Any]

    @property
    def service_name(self) -> str:
        return str(self.values["service_name"])

    @property
    def context_dir(self) -> Path:
        return self.path / "internal" / str(self.values["context_name"])


# A session fixture's function that renders an answer set (once) and returns the project.
RenderSet = Callable[[AnswerSet], "Project"]


def render(answer_set: AnswerSet, dest: Path) -> Project:
    rendered = render_project(SOURCE, dest, answer_set.answers, defaults=True)
    return Project(answer_set=answer_set, path=dest, values=rendered.values)


def run_tool(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its text output."""
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def gosvc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The gosvc CLI as a user runs it, in a subprocess."""
    return run_tool([sys.executable, "-m", "gosvc", *args], cwd=cwd)


def copier(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The copier CLI from this environment, in a subprocess."""
    return run_tool([sys.executable, "-m", "copier", *args], env=env)
