"""The 0.2.0 migration that adds the seed adapter's file loader, on its own (test_update.py
and test_update_release.py run it inside `copier update` on a real service)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import DEFAULTS, REPO_ROOT, render
from update_tools import SEED_LOADER_SCRIPT

pytestmark = pytest.mark.update

LOADER = Path("internal/inventory/adapter/seed/file.go")


def migrate(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(SEED_LOADER_SCRIPT),
            str(REPO_ROOT),
            "inventory",
            "example.com/inventory-service",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )


def test_adds_the_loader_as_a_fresh_render_has_it_once(tmp_path: Path) -> None:
    fresh = render(DEFAULTS, tmp_path / "fresh")
    project = tmp_path / "old"
    (project / LOADER.parent).mkdir(parents=True)
    (project / LOADER.parent / "seed.go").write_text("package seed\n", encoding="utf-8")

    first = migrate(project)
    assert first.stdout == f"migration: added {LOADER} (seed.LoadFile, which cmd/ now calls)\n"
    assert (project / LOADER).read_bytes() == (fresh.path / LOADER).read_bytes()

    (project / LOADER).write_text("package seed // edited\n", encoding="utf-8")
    again = migrate(project)
    assert again.stdout == ""
    assert (project / LOADER).read_text(encoding="utf-8") == "package seed // edited\n"


def test_leaves_a_service_without_the_seed_adapter_alone(tmp_path: Path) -> None:
    (tmp_path / "internal/inventory/adapter").mkdir(parents=True)
    result = migrate(tmp_path)
    assert "seed.go is gone" in result.stdout
    assert not (tmp_path / LOADER).exists()
