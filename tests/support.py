"""Constants and helpers the template's tests share: the checkout, its matrix, rendering
and running the CLIs the way a user does, and the work done once per test run for every
xdist worker (SharedWork: renders, builds).

Projects are rendered through gosvc's own render path (Copier's API, tasks skipped).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock
from gosvc.matrix import AnswerSet, load_matrix
from gosvc.render import render_project
from gosvc.service import Service, wait_for
from gosvc.template import TemplateSource

REPO_ROOT = Path(__file__).resolve().parent.parent
MATRIX_FILE = REPO_ROOT / "tests" / "matrix.yml"
MATRIX = load_matrix(MATRIX_FILE)
DEFAULTS = next(answer_set for answer_set in MATRIX if not answer_set.answers)
# HEAD plus uncommitted changes: the template as it is in this checkout.
SOURCE = TemplateSource(str(REPO_ROOT), "HEAD")

T = TypeVar("T")


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


@dataclass(frozen=True)
class Built:
    """A project built with its own `make build`, and the binary that wrote."""

    project: Project
    binary: Path

    @property
    def collection(self) -> str:
        """The example API's collection path, /v1/<plural>."""
        return f"/v1/{self.project.values['aggregate_plural']}"

    @property
    def downstream(self) -> str:
        return str(self.project.values["downstream_name"])

    def downstream_env(self, suffix: str) -> str:
        """The name of one of the downstream's variables, e.g. PRICING_URL."""
        return f"{self.project.values['downstream_env']}_{suffix}"

    @property
    def seed_variable(self) -> str:
        return f"{str(self.project.values['context_name']).upper()}_SEED_FILE"


# Session fixtures' functions: an answer set's shared render, its shared build, and a
# private (writable) copy of its render.
RenderSet = Callable[[AnswerSet], Project]
BuildSet = Callable[[AnswerSet], Built]
CopySet = Callable[[AnswerSet, Path], Project]
# The `figure` fixture's function: report one line of measured figures.
Figure = Callable[[str], None]
# The `start` fixture's function (conftest's, or a module's own): start the built service.
Launch = Callable[..., Service]


def render(answer_set: AnswerSet, dest: Path) -> Project:
    rendered = render_project(SOURCE, dest, answer_set.answers, defaults=True)
    return Project(answer_set=answer_set, path=dest, values=rendered.values)


def answer_set_key(answer_set: AnswerSet) -> str:
    """A folder name for an answer set: its name and a digest of its answers (two sets
    may share a name, e.g. one made up by a test)."""
    answers = json.dumps(answer_set.answers, sort_keys=True, default=str)
    return f"{answer_set.name}-{hashlib.sha256(answers.encode()).hexdigest()[:10]}"


class SharedWork:
    """Work done once per test run, by whichever xdist worker asks first.

    Each piece is a folder under `root` (the run's base temporary folder, which every
    worker sees) made by a function while a file lock keeps the other workers waiting;
    they then use the finished folder. A function that raised leaves no folder behind,
    so the next caller tries again and sees the same error.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def folder(self, key: str, make: Callable[[Path], None]) -> Path:
        dest = self.root / key
        done = self.root / f"{key}.done"
        with FileLock(self.root / f"{key}.lock"):
            if not done.exists():
                if dest.exists():
                    shutil.rmtree(dest)
                try:
                    dest.mkdir()
                    make(dest)
                except BaseException:
                    shutil.rmtree(dest, ignore_errors=True)
                    raise
                done.touch()
        return dest


def tree_digest(root: Path) -> str:
    """A digest of every path, file mode and file content under root."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        digest.update(f"{relative}\0{path.lstat().st_mode}\0".encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def shared_render(shared: SharedWork, answer_set: AnswerSet) -> Project:
    """The run's one render of `answer_set` (project/, values.json and its digest)."""

    def make(folder: Path) -> None:
        project = render(answer_set, folder / "project")
        (folder / "values.json").write_text(json.dumps(project.values), encoding="utf-8")
        (folder / "digest").write_text(tree_digest(project.path), encoding="utf-8")

    folder = shared.folder(f"render-{answer_set_key(answer_set)}", make)
    values = json.loads((folder / "values.json").read_text(encoding="utf-8"))
    return Project(answer_set=answer_set, path=folder / "project", values=values)


def unchanged_since_made(project: Project) -> bool:
    """False when a test changed a shared render or build, which the others rely on."""
    recorded = (project.path.parent / "digest").read_text(encoding="utf-8")
    return tree_digest(project.path) == recorded


def copy_project(project: Project, dest: Path) -> Project:
    """A private copy of a rendered project: the same files, modes and symlinks."""
    shutil.copytree(project.path, dest, symlinks=True)
    return Project(answer_set=project.answer_set, path=dest, values=dict(project.values))


def make_build(project: Project) -> Built:
    """`make build` in the project, as its README says; fails with make's output."""
    result = run_tool(["make", "build"], cwd=project.path)
    assert result.returncode == 0, result.stdout + result.stderr
    binary = project.path / "bin" / project.service_name
    assert binary.is_file(), f"make build did not write {binary}"
    return Built(project=project, binary=binary)


def shared_build(shared: SharedWork, answer_set: AnswerSet) -> Built:
    """The run's one `make build` of `answer_set`, in a copy of its shared render."""
    rendered = shared_render(shared, answer_set)

    def make(folder: Path) -> None:
        built = make_build(copy_project(rendered, folder / "project"))
        (folder / "digest").write_text(tree_digest(built.project.path), encoding="utf-8")

    folder = shared.folder(f"build-{answer_set_key(answer_set)}", make)
    project = Project(answer_set=answer_set, path=folder / "project", values=rendered.values)
    return Built(project=project, binary=project.path / "bin" / project.service_name)


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


def wait_until(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.5) -> T:
    """Call `check` until it returns something other than None; fail (TimeoutError) after
    `timeout`. gosvc.service.wait_for, polling less often: the kubernetes tests' checks ask
    an API server or run kubectl."""
    return wait_for(check, timeout=timeout, what=what, every=every)
