"""Fixtures shared by the template's tests. Go's module and build caches are the user's
defaults, shared by every test, so the build matrix compiles third-party code once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from gosvc.matrix import AnswerSet
from support import DEFAULTS, Project, RenderSet, render


@pytest.fixture(scope="session", autouse=True)
def go_toolchain() -> None:
    """The suite checks generated Go code: without Go it fails instead of skipping."""
    missing = [tool for tool in ("go", "gofmt", "git") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the template tests need {', '.join(missing)} on PATH", pytrace=False)


@pytest.fixture(scope="session")
def rendered_set(tmp_path_factory: pytest.TempPathFactory) -> RenderSet:
    """Render an answer set once per session; callers must not modify the project."""
    cache: dict[str, Project] = {}
    root = tmp_path_factory.mktemp("matrix")

    def get(answer_set: AnswerSet) -> Project:
        if answer_set.name not in cache:
            cache[answer_set.name] = render(answer_set, root / answer_set.name)
        return cache[answer_set.name]

    return get


@pytest.fixture
def fresh_project(tmp_path: Path) -> Project:
    """A private render of the default answers, free to modify."""
    return render(DEFAULTS, tmp_path / "project")
