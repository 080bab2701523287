"""Layer 5, update from the real last release: a service generated from the newest
`release: X.Y.Z` commit, edited by hand, updated to this checkout's HEAD.

Where test_update.py proves the mechanics on a history it makes up, this proves that the
release users actually have updates cleanly to what is about to be released: template
changes land, user-owned files stay, the project still builds and passes its tests. It
skips when the history has no release commit or HEAD is that release.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from copier import run_update
from gosvc.matrix import AnswerSet
from support import DEFAULTS, MATRIX, REPO_ROOT, gosvc
from update_tools import (
    ADAPTER_OLD,
    CHANGELOG,
    History,
    adapter_dir,
    changelog_top_version,
    changelog_versions,
    commit_all,
    diff_trees,
    edit_all,
    expected_after_update,
    generate,
    git,
    has_rename_migration,
    leftovers,
    release_history,
    releases,
    snapshot_checkout,
    tree_files,
    version_key,
)

pytestmark = pytest.mark.update


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    clone = snapshot_checkout(tmp_path_factory.mktemp("release-template") / "template")
    found = release_history(clone)
    if found is None:
        pytest.skip(
            "no `release: X.Y.Z` commit older than HEAD in this checkout's history "
            "(none released yet, HEAD is the release, or a shallow clone)"
        )
    return found


def migrates_adapter(history: History, old_project: Path) -> bool:
    """Whether updating this release runs the adapter rename migration."""
    return has_rename_migration(history.repo) and adapter_dir(old_project).name == ADAPTER_OLD


def test_edited_release_project_updates_and_builds(history: History, tmp_path: Path) -> None:
    old = generate(history, history.old, tmp_path / "old", DEFAULTS.answers)
    fresh = generate(history, history.new, tmp_path / "fresh", DEFAULTS.answers)
    project = generate(history, history.old, tmp_path / "svc", DEFAULTS.answers)
    edit_all(project)
    commit_all(project, "Hand edits")

    result = gosvc("update", str(project))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No conflicts." in result.stdout and "All checks passed" in result.stdout
    assert leftovers(project) == []
    expected = expected_after_update(
        fresh, old, tmp_path / "expected", migrate=migrates_adapter(history, old), edit=edit_all
    )
    assert diff_trees(tree_files(project), expected) == []


@pytest.mark.parametrize(
    "answer_set",
    [answer_set for answer_set in MATRIX if answer_set.name in {"defaults", "no-example"}],
    ids=lambda answer_set: answer_set.name,
)
def test_unedited_release_project_equals_a_fresh_copy(
    history: History, tmp_path: Path, answer_set: AnswerSet
) -> None:
    """The DiamondLightSource check: template-owned and shared files are exactly a fresh
    copy's; user-owned ones are as the release created them (then migrated)."""
    old = generate(history, history.old, tmp_path / "old", answer_set.answers)
    fresh = generate(history, history.new, tmp_path / "fresh", answer_set.answers)
    updated = generate(history, history.old, tmp_path / "updated", answer_set.answers)

    run_update(updated, defaults=True, overwrite=True, unsafe=True, skip_tasks=True, quiet=True)

    migrate = migrates_adapter(history, old)
    expected = expected_after_update(fresh, old, tmp_path / "expected", migrate=migrate)
    assert diff_trees(tree_files(updated), expected) == []


# ------------------------------------------------------- release bookkeeping


def test_unreleased_changes_have_a_changelog_section() -> None:
    """After a release, the next changes go under a new top section of CHANGELOG.md."""
    found = releases(REPO_ROOT)
    if not found:
        pytest.skip("no release commit in this checkout's history")
    latest, sha = found[0]
    if git(REPO_ROOT, "rev-parse", f"{sha}^{{tree}}") == git(REPO_ROOT, "rev-parse", "HEAD^{tree}"):
        assert changelog_top_version() == latest
        heading = CHANGELOG.read_text(encoding="utf-8").split(f"## {latest}", 1)[1]
        assert not heading.startswith(" (unreleased)"), f"{latest} is released: drop the mark"
    else:
        assert version_key(changelog_top_version()) > version_key(latest), (
            f"HEAD has changes after release {latest}: start a new top section in CHANGELOG.md"
        )


def test_every_migration_has_a_changelog_entry() -> None:
    config = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    documented = set(changelog_versions())
    for migration in config.get("_migrations", []):
        assert re.fullmatch(r"\d+\.\d+\.\d+", migration["version"])
        assert migration["version"] in documented, f"CHANGELOG.md has no {migration['version']}"
