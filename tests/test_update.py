"""Layer 5, update: a service generated from an older template version, edited by hand,
then updated to the newer one with `gosvc update` (and plain `copier update`).

The history is synthetic (see update_tools): HEAD's tree with known changes undone is the
older version, so every test can name the change it expects. One of them is the rename of
SEED_FILE, which a three-way merge cannot make in the user's files: the newer version's
migration must. test_update_release.py runs the same checks against the real last release.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from copier import run_update
from gosvc.matrix import AnswerSet
from gosvc.update import conflicted_files
from support import DEFAULTS, MATRIX, REPO_ROOT, copier, gosvc
from update_tools import (
    ANSWERS_FILE,
    DELETED_EXAMPLE_FILE,
    DEV_OVERLAY,
    DOT_ENV,
    HTTP_ADAPTER,
    NEW_RULE,
    PROD_OVERLAY,
    SEED_KEEP,
    SEED_LITERAL,
    SEED_NEW_TEMPLATE,
    SEED_OLD,
    SEED_RENAME_TO,
    History,
    changelog_top_version,
    commit_all,
    diff_trees,
    edit_all,
    edit_all_and_set_seed_file,
    expected_after_update,
    generate,
    git,
    leftovers,
    old_seed_mentions,
    replace_in,
    snapshot_checkout,
    synthetic_history,
    tree_files,
    undo_seed_rename,
)

pytestmark = pytest.mark.update

MAKEFILE = Path("template", "Makefile.jinja")
OPENAPI = Path("template", "api", "openapi.yaml.jinja")
# The Makefile line the newer version changed, as each version renders it.
OLD_TEST_LINE = "\t$(GO) test ./...\n"
NEW_TEST_LINE = "\t$(GO) test -race ./...\n"
ADDED_FILE = "internal/platform/respond/bench_test.go"
REMOVED_FILE = "internal/platform/health/legacy.go"


def make_older_version(repo: Path) -> None:
    """Undo, in HEAD's tree, the changes the synthetic newer version makes."""
    # A changed template-owned file: the older Makefile ran the tests without -race.
    replace_in(repo / MAKEFILE, "## Run every test with the race detector\n", "## Run every test\n")
    replace_in(repo / MAKEFILE, NEW_TEST_LINE, OLD_TEST_LINE)
    # An added template-owned file: the older version had no responder benchmark.
    (repo / "template" / f"{ADDED_FILE}.jinja").unlink()
    # A removed template-owned file.
    (repo / "template" / REMOVED_FILE).write_text(
        "// This file was in the older template version only.\n\npackage health\n",
        encoding="utf-8",
    )
    # A changed shared file, in a part the user does not edit.
    replace_in(repo / OPENAPI, "      summary: Liveness\n", "      summary: Liveness probe\n")
    # A tightened rule: the older version took any http_port (Copier alone would then
    # replace an out-of-range answer by the default on update, without a word).
    config = (repo / "copier.yml").read_text(encoding="utf-8")
    question = re.search(r"^http_port:\n(?:  .*\n)+", config, re.MULTILINE)
    assert question is not None and "  validator: >-\n" in question.group(0)
    loose = question.group(0).split("  validator: >-\n")[0]
    (repo / "copier.yml").write_text(config.replace(question.group(0), loose), encoding="utf-8")
    # A renamed variable: the older version read SEED_FILE and did not refuse it.
    undo_seed_rename(repo)


def make_newer_version(repo: Path) -> None:
    """HEAD's tree as it is: it reads INVENTORY_SEED_FILE and carries the migration."""


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    clone = snapshot_checkout(tmp_path_factory.mktemp("update-template") / "template")
    return synthetic_history(clone, make_older_version, make_newer_version)


@pytest.fixture(scope="module")
def renders(history: History, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The default answers rendered at each version, untouched."""
    root = tmp_path_factory.mktemp("update-renders")
    return {
        version: generate(history, version, root / version, DEFAULTS.answers)
        for version in (history.old, history.new)
    }


@dataclass(frozen=True)
class Updated:
    project: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def edited_update(history: History, tmp_path_factory: pytest.TempPathFactory) -> Updated:
    """A project at the older version, edited by hand (SEED_FILE set in the dev overlay and
    a .env file among the edits), committed, then `gosvc update`."""
    project = generate(
        history, history.old, tmp_path_factory.mktemp("edited") / "svc", DEFAULTS.answers
    )
    edit_all_and_set_seed_file(project)
    commit_all(project, "Hand edits")
    return Updated(project, gosvc("update", str(project)))


# ------------------------------------------------------------ edits survive


def test_update_runs_clean_and_the_project_passes_its_checks(edited_update: Updated) -> None:
    result = edited_update.result
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No conflicts." in result.stdout
    assert "All checks passed" in result.stdout
    assert leftovers(edited_update.project) == []


def test_user_edits_survive(edited_update: Updated) -> None:
    project = edited_update.project
    domain = project / "internal" / "inventory" / "domain"
    assert NEW_RULE in (domain / "stock.go").read_text()
    assert (domain / "release_test.go").is_file()
    handler = (project / HTTP_ADAPTER / "handler.go").read_text()
    assert "func (h *Handler) availability(" in handler
    assert "/v1/stocks/{id}/availability:" in (project / "api" / "openapi.yaml").read_text()
    assert "path: /spec/maxReplicas\n        value: 12\n" in (project / PROD_OVERLAY).read_text()
    assert not (project / DELETED_EXAMPLE_FILE).exists(), "a deleted example file came back"


def test_template_changes_land(edited_update: Updated, history: History) -> None:
    project = edited_update.project
    makefile = (project / "Makefile").read_text()
    assert NEW_TEST_LINE in makefile and OLD_TEST_LINE not in makefile
    assert (project / ADDED_FILE).is_file()
    assert not (project / REMOVED_FILE).exists()
    openapi = (project / "api" / "openapi.yaml").read_text()
    assert "summary: Liveness\n" in openapi and "Liveness probe" not in openapi
    assert f"_commit: {history.new}\n" in (project / ANSWERS_FILE).read_text()


def test_update_changes_nothing_else(
    edited_update: Updated, renders: dict[str, Path], history: History, tmp_path: Path
) -> None:
    """Every file is the newer render's where the template owns or shares it, the older
    render's where the user owns it, with the user's edits and the migration on top."""
    expected = expected_after_update(
        renders[history.new],
        renders[history.old],
        tmp_path / "expected",
        migrate=True,
        edit=edit_all_and_set_seed_file,
    )
    assert diff_trees(tree_files(edited_update.project), expected) == []


def test_migration_renames_the_seed_variable(edited_update: Updated) -> None:
    project = edited_update.project
    new_literal = SEED_LITERAL.replace(SEED_OLD, "INVENTORY_SEED_FILE")
    assert new_literal in (project / DEV_OVERLAY).read_text()
    assert "\nINVENTORY_SEED_FILE=seed.json\n" in (project / DOT_ENV).read_text()
    # The template's own files already use the new name; the user-owned seed adapter's
    # comment is migrated; only the config package, which refuses it, names the old one.
    assert old_seed_mentions(project) == []
    config = (project / SEED_KEEP / "config.go").read_text()
    assert 'r.renamed("SEED_FILE", "INVENTORY_SEED_FILE")' in config
    for changed in (DEV_OVERLAY, DOT_ENV, "internal/inventory/adapter/seed/seed.go"):
        line = f"migration: SEED_FILE -> INVENTORY_SEED_FILE in {changed} (once)\n"
        assert line in edited_update.result.stdout, edited_update.result.stdout
    # ... and the project builds and passes its tests with the new name: see the first test.


def test_second_update_is_a_no_op(edited_update: Updated) -> None:
    project = edited_update.project
    commit_all(project, "Update the template")
    head = git(project, "rev-parse", "HEAD")
    again = gosvc("update", str(project))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing changed" in again.stdout
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "HEAD") == head


# -------------------------------------------------------------- conflicts


def test_conflicting_edit_is_left_inline_and_reported(
    history: History, renders: dict[str, Path], tmp_path: Path
) -> None:
    project = generate(history, history.old, tmp_path / "svc", DEFAULTS.answers)
    edit_all(project)
    # The same line the newer template changes (it adds -race).
    replace_in(project / "Makefile", OLD_TEST_LINE, "\t$(GO) test -count=1 ./...\n")
    commit_all(project, "Hand edits, one conflicting")

    result = gosvc("update", str(project))

    # The conflict alone makes it fail: a Makefile clash does not break the Go checks.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "All checks passed" in result.stdout
    assert "Conflicts in 1 file:" in result.stdout
    assert "\n  Makefile\n" in result.stdout
    assert conflicted_files(project) == ["Makefile"]
    makefile = (project / "Makefile").read_text()
    for side in ("<<<<<<< before updating", "$(GO) test -count=1 ./...", NEW_TEST_LINE.strip()):
        assert side in makefile
    # Nothing else is lost: every other file is what a clean update gives.
    expected = expected_after_update(
        renders[history.new],
        renders[history.old],
        tmp_path / "expected",
        migrate=True,
        edit=edit_all,
    )
    actual = tree_files(project)
    assert [problem for problem in diff_trees(actual, expected) if "Makefile" not in problem] == []


# ----------------------------------------------------------- bad starts


@pytest.mark.parametrize(
    ("answer", "bad_answer", "message"),
    [
        # The older version took it, so Copier alone would quietly reset it to the default.
        ("http_port: 8080", "http_port: 99999", "http_port must be between 1 and 65535"),
        (
            "service_name: inventory-service",
            "service_name: Inventory_Service",
            "service_name: 'I': use only a-z 0-9 -",
        ),
        ("http_port: 8080", "http_port: eighty", "http_port must be a whole number"),
        ("example_domain: true", "example_domain: [true", "is not valid YAML"),
        # Copier alone would take the default name: every file of the service renamed.
        ("service_name: inventory-service\n", "", "no answer for service_name"),
    ],
    ids=["out-of-range", "bad-service-name", "not-a-number", "broken-yaml", "deleted"],
)
def test_invalid_answers_file_fails_clearly_and_changes_nothing(
    history: History, tmp_path: Path, answer: str, bad_answer: str, message: str
) -> None:
    project = generate(history, history.old, tmp_path / "svc", DEFAULTS.answers)
    replace_in(project / ANSWERS_FILE, answer, bad_answer)
    commit_all(project, "Hand-edit the answers")
    before = tree_files(project)

    result = gosvc("update", str(project))

    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert tree_files(project) == before
    assert git(project, "status", "--porcelain") == ""


def test_update_refuses_a_dirty_work_tree(history: History, tmp_path: Path) -> None:
    project = generate(history, history.old, tmp_path / "svc", DEFAULTS.answers)
    (project / "notes.txt").write_text("not committed\n")

    result = gosvc("update", str(project))

    assert result.returncode == 2
    assert "uncommitted changes (notes.txt)" in result.stderr
    assert f"_commit: {history.old}\n" in (project / ANSWERS_FILE).read_text()


def test_update_refuses_a_project_outside_git(history: History, tmp_path: Path) -> None:
    project = generate(history, history.old, tmp_path / "svc", DEFAULTS.answers)
    shutil.rmtree(project / ".git")

    result = gosvc("update", str(project))

    assert result.returncode == 2
    assert "is not in a git work tree" in result.stderr


def test_failed_migration_restores_the_project(tmp_path: Path) -> None:
    def with_failing_migration(repo: Path) -> None:
        make_newer_version(repo)
        (repo / "migrations" / "fail.py").write_text("raise SystemExit('cannot migrate')\n")
        config = (repo / "copier.yml").read_text(encoding="utf-8")
        entry = (
            f'  - version: "{changelog_top_version()}"\n'
            "    command: ['{{ _copier_python }}', "
            '\'{{ pathjoin(_copier_conf.src_path, "migrations", "fail.py") }}\']\n'
        )
        if "\n_migrations:\n" in config:
            config = config.replace("\n_migrations:\n", "\n_migrations:\n" + entry)
        else:
            config += "\n_migrations:\n" + entry
        (repo / "copier.yml").write_text(config, encoding="utf-8")

    clone = snapshot_checkout(tmp_path / "template")
    history = synthetic_history(clone, make_older_version, with_failing_migration)
    project = generate(history, history.old, tmp_path / "svc", DEFAULTS.answers)
    before = tree_files(project)

    result = gosvc("update", str(project))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "A template migration or task failed" in result.stdout
    assert "cannot migrate" in result.stderr
    assert tree_files(project) == before
    assert git(project, "status", "--porcelain", "--ignored") == ""


def test_seed_migration_leaves_a_service_without_the_example_domain_alone(
    history: History, tmp_path: Path
) -> None:
    """Such a service never read SEED_FILE: a variable of that name is the user's own."""
    answers = next(answer_set for answer_set in MATRIX if answer_set.name == "no-example").answers
    project = generate(history, history.old, tmp_path / "svc", answers)
    (project / DOT_ENV).write_text("SEED_FILE=mine.json\n", encoding="utf-8")
    commit_all(project, "A variable of my own")

    run_update(project, defaults=True, overwrite=True, unsafe=True, skip_tasks=True, quiet=True)

    assert (project / DOT_ENV).read_text() == "SEED_FILE=mine.json\n"
    assert f"_commit: {history.new}\n" in (project / ANSWERS_FILE).read_text()


def test_check_says_whether_a_newer_version_exists(history: History, tmp_path: Path) -> None:
    old = generate(history, history.old, tmp_path / "old", DEFAULTS.answers)
    current = generate(history, history.new, tmp_path / "new", DEFAULTS.answers)

    behind = gosvc("update", "--check", str(old))
    up_to_date = gosvc("update", "--check", str(current))

    assert behind.returncode == 1, behind.stdout + behind.stderr
    assert f"template {history.new} is available (project is at {history.old})" in behind.stdout
    assert up_to_date.returncode == 0, up_to_date.stdout + up_to_date.stderr
    assert f"up to date with template {history.new}" in up_to_date.stdout


# ---------------------------------------- DiamondLightSource-style check


@pytest.mark.parametrize(
    "answer_set",
    [
        answer_set
        for answer_set in MATRIX
        if answer_set.name in {"defaults", "module-v2", "no-example"}
    ],
    ids=lambda answer_set: answer_set.name,
)
def test_unedited_update_equals_a_fresh_copy(
    history: History, tmp_path: Path, answer_set: AnswerSet
) -> None:
    """Plain `copier update` of an unedited project gives exactly a fresh copy of the newer
    version (the synthetic history changes user-owned files only by the rename, which the
    migration makes), and in general: user-owned files as created, then migrated."""
    old = generate(history, history.old, tmp_path / "old", answer_set.answers)
    updated = generate(history, history.old, tmp_path / "updated", answer_set.answers)
    fresh = generate(history, history.new, tmp_path / "fresh", answer_set.answers)

    run_update(updated, defaults=True, overwrite=True, unsafe=True, skip_tasks=True, quiet=True)

    assert diff_trees(tree_files(updated), tree_files(fresh)) == []
    expected = expected_after_update(fresh, old, tmp_path / "expected", migrate=True)
    assert diff_trees(tree_files(updated), expected) == []


# ---------------------------------------------------------- hooks on update


def test_heavy_hook_steps_do_not_run_on_update(history: History, tmp_path: Path) -> None:
    """`copier update` runs the tasks in two scratch renders and the project: none of them
    may build or test (a spy `go` on PATH records every call, then runs the real one)."""
    spy_dir = tmp_path / "spy"
    spy_dir.mkdir()
    log = tmp_path / "go-calls.log"
    for tool in ("go", "gofmt"):
        real = shutil.which(tool)
        assert real is not None
        spy = spy_dir / tool
        spy.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\nexec "{real}" "$@"\n')
        spy.chmod(0o755)
    env = {**os.environ, "PATH": f"{spy_dir}{os.pathsep}{os.environ['PATH']}"}
    project = tmp_path / "svc"

    created = copier(
        "copy", "--trust", "--defaults", "-r", history.old, str(history.repo), str(project), env=env
    )
    assert created.returncode == 0, created.stdout + created.stderr
    calls_on_copy = log.read_text().splitlines()
    assert "go build ./..." in calls_on_copy, "the spy must see the hook's checks on copy"
    git(project, "init", "--quiet")
    commit_all(project, "Generate")
    log.unlink()

    updated = copier("update", "--trust", "--defaults", str(project), env=env)

    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert not log.exists(), f"go ran during copier update: {log.read_text()}"
    assert f"_commit: {history.new}\n" in (project / ANSWERS_FILE).read_text()


def test_every_refused_variable_comes_with_its_migration() -> None:
    """Each variable the config package refuses as renamed has a `_migrations` entry that
    renames it in the user's files, keeping the config package (it names the old variable
    on purpose); SEED_FILE's is keyed on the version that renamed it."""
    config_go = REPO_ROOT / "template" / SEED_KEEP / "config.go.jinja"
    renames = re.findall(r'\br\.renamed\("(\w+)", "([^"]+)"\)', config_go.read_text())
    assert (SEED_OLD, SEED_NEW_TEMPLATE) in renames
    migrations = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())["_migrations"]
    versions = {
        tuple(entry["command"][2:]): entry["version"]
        for entry in migrations
        if "rename_env_var.py" in entry["command"][1]
    }
    for old, new in renames:
        assert (old, new, "--keep", SEED_KEEP) in versions, f"no migration renames {old} to {new}"
    assert versions[(SEED_OLD, SEED_NEW_TEMPLATE, "--keep", SEED_KEEP)] == SEED_RENAME_TO
