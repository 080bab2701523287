"""Layer 5, update from the real last release: a service generated from the newest
`release: X.Y.Z` commit, edited by hand, updated to this checkout's HEAD.

Where test_update.py proves the mechanics on a history it makes up, this proves that the
release users actually have updates cleanly to what is about to be released: template
changes land, user-owned files stay, the project still builds and passes its tests, and a
project that still sets a renamed variable is migrated and runs. It skips when the history
has no release commit or HEAD is that release.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from copier import run_update
from gosvc.matrix import AnswerSet
from gosvc.service import LOOPBACK, Service
from gosvc.update import answers_new_questions_need
from support import DEFAULTS, MATRIX, REPO_ROOT, gosvc, run_tool
from update_tools import (
    ANSWERS_FILE,
    CHANGELOG,
    DEV_OVERLAY,
    DOT_ENV,
    SEED_LITERAL,
    SEED_OLD,
    History,
    changelog_top_version,
    changelog_versions,
    commit_all,
    diff_trees,
    edit_all,
    expected_after_update,
    generate,
    git,
    kept_answers,
    leftovers,
    migrates_seed_file,
    old_seed_mentions,
    release_history,
    releases,
    set_seed_file,
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


def test_edited_release_project_updates_and_builds(history: History, tmp_path: Path) -> None:
    old = generate(history, history.old, tmp_path / "old", DEFAULTS.answers)
    # gosvc update answers the new questions whose defaults need newer context code (pact)
    # for a project that predates them; the fresh copy to compare with gets the same.
    recorded = yaml.safe_load((old / ANSWERS_FILE).read_text(encoding="utf-8"))
    fresh_answers = {
        **DEFAULTS.answers,
        **kept_answers(old),
        **answers_new_questions_need(recorded),
    }
    fresh = generate(history, history.new, tmp_path / "fresh", fresh_answers)
    project = generate(history, history.old, tmp_path / "svc", DEFAULTS.answers)
    edit_all(project)
    commit_all(project, "Hand edits")

    result = gosvc("update", str(project))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No conflicts." in result.stdout and "All checks passed" in result.stdout
    assert leftovers(project) == []
    expected = expected_after_update(
        fresh, old, tmp_path / "expected", migrate=migrates_seed_file(history, old), edit=edit_all
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
    fresh = generate(
        history, history.new, tmp_path / "fresh", {**answer_set.answers, **kept_answers(old)}
    )
    updated = generate(history, history.old, tmp_path / "updated", answer_set.answers)

    run_update(updated, defaults=True, overwrite=True, unsafe=True, skip_tasks=True, quiet=True)

    migrate = migrates_seed_file(history, old)
    expected = expected_after_update(fresh, old, tmp_path / "expected", migrate=migrate)
    assert diff_trees(tree_files(updated), expected) == []


# ------------------------------------------------------------ migrations


def test_release_project_setting_seed_file_is_migrated_and_runs(
    history: History, tmp_path: Path
) -> None:
    """Issue 4's migration test on the real release: a project at 0.1.0 whose dev overlay
    and .env set SEED_FILE ends up with INVENTORY_SEED_FILE, builds, and its binary refuses
    the old name and loads the new one."""
    project = generate(history, history.old, tmp_path / "svc", DEFAULTS.answers)
    if not migrates_seed_file(history, project):
        pytest.skip(f"updating {history.old} to {history.new} does not rename SEED_FILE")
    set_seed_file(project)
    commit_all(project, "Seed the dev environment")

    result = gosvc("update", str(project))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No conflicts." in result.stdout and "All checks passed" in result.stdout
    overlay = (project / DEV_OVERLAY).read_text()
    assert SEED_LITERAL.replace(SEED_OLD, "INVENTORY_SEED_FILE") in overlay
    assert "INVENTORY_SEED_FILE=seed.json" in (project / DOT_ENV).read_text()
    assert old_seed_mentions(project) == []
    assert f"migration: SEED_FILE -> INVENTORY_SEED_FILE in {DEV_OVERLAY}" in result.stdout

    binary = tmp_path / "inventory-service"
    built = run_tool(["go", "build", "-o", str(binary), "./cmd/inventory-service"], cwd=project)
    assert built.returncode == 0, built.stderr
    refused = run_tool(
        [str(binary)],
        env={**os.environ, SEED_OLD: "seed.json", "HTTP_ADDR": f"{LOOPBACK}:0"},
        timeout=30,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.strip().splitlines() == [
        'inventory-service: invalid SEED_FILE="seed.json": '
        "renamed to INVENTORY_SEED_FILE: set that instead"
    ]
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps([{"id": "seeded-1", "quantity": 5}]), encoding="utf-8")
    service = Service(binary, log_dir=tmp_path, env={"INVENTORY_SEED_FILE": str(seed)})
    try:
        service.wait_for_status("/startupz", 200)
        seeded = service.request("GET", "/v1/stocks/seeded-1")
        assert seeded.status == 200, seeded.body
        assert seeded.json()["on_hand"] == 5
    finally:
        service.stop()


# ------------------------------------------------------- release bookkeeping


def test_unreleased_changes_have_a_changelog_section() -> None:
    """After a release, the next changes go under a new top section of CHANGELOG.md."""
    found = releases(REPO_ROOT)
    if not found:
        pytest.skip("no release commit in this checkout's history")
    latest, sha = found[0]
    # Uncommitted changes count as changes after the release, as they do for Copier.
    released = git(REPO_ROOT, "rev-parse", f"{sha}^{{tree}}")
    if released == git(REPO_ROOT, "rev-parse", "HEAD^{tree}") and not git(
        REPO_ROOT, "status", "--porcelain"
    ):
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
