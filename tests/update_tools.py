"""Template histories, user edits and expected trees for the update tests.

The tests never rely on the tags of this checkout: a CI clone may have none. Every history
is built in a temporary clone whose HEAD is this checkout's working tree (uncommitted
changes included, as Copier renders a dirty local template), and the tests tag what they
need there:

- the release history: the newest commit whose subject is `release: X.Y.Z` is tagged
  X.Y.Z, HEAD gets the version of CHANGELOG.md's top section;
- a synthetic history: HEAD's tree with known changes undone (among them the rename of
  SEED_FILE, which 0.2.0 made with a migration), tagged as the older version, then HEAD's
  tree, tagged as the newer one. Its changes are known, so tests can name each of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from copier import run_copy
from support import REPO_ROOT

CHANGELOG = REPO_ROOT / "CHANGELOG.md"
ANSWERS_FILE = ".copier-answers.yml"
ENV_RENAME_SCRIPT = REPO_ROOT / "migrations" / "rename_env_var.py"
SEED_LOADER_SCRIPT = REPO_ROOT / "migrations" / "add_seed_file_loader.py"

_RELEASE_SUBJECT = re.compile(r"^release: (\d+\.\d+\.\d+)$")
_CHANGELOG_VERSION = re.compile(r"^## (\d+\.\d+\.\d+)\b", re.MULTILINE)
# Commits in the temporary repositories must not depend on the machine's git identity.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "update test",
    "GIT_AUTHOR_EMAIL": "update-test@example.invalid",
    "GIT_COMMITTER_NAME": "update test",
    "GIT_COMMITTER_EMAIL": "update-test@example.invalid",
}


def git(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run git in `cwd` and return its stdout; a failure raises with git's stderr."""
    completed = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env={**os.environ, **_GIT_ENV, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}:\n{completed.stderr}")
    return completed.stdout


# ------------------------------------------------------------------ versions


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def changelog_versions() -> list[str]:
    """The versions CHANGELOG.md has a section for, newest first."""
    return _CHANGELOG_VERSION.findall(CHANGELOG.read_text(encoding="utf-8"))


def changelog_top_version() -> str:
    """The version of CHANGELOG.md's first section: the release HEAD is heading for."""
    versions = changelog_versions()
    if not versions:
        raise AssertionError(f"{CHANGELOG} has no '## X.Y.Z' section")
    return versions[0]


def releases(repo: Path) -> list[tuple[str, str]]:
    """(version, commit) of every `release: X.Y.Z` commit in the history, newest first."""
    log = git(repo, "log", "--format=%H %s", "--extended-regexp", "--grep=^release: ")
    found = []
    for line in log.splitlines():
        sha, subject = line.split(" ", 1)
        if match := _RELEASE_SUBJECT.match(subject):
            found.append((match.group(1), sha))
    return sorted(found, key=lambda release: version_key(release[0]), reverse=True)


# ----------------------------------------------------------------- histories


@dataclass(frozen=True)
class History:
    """A template repository with an older and a newer tagged version."""

    repo: Path
    old: str
    new: str


def snapshot_checkout(dest: Path) -> Path:
    """Clone this checkout into `dest` with HEAD holding its working tree, tags removed."""
    git(dest.parent, "clone", "--quiet", "--no-checkout", str(REPO_ROOT), dest.name)
    tags = git(dest, "tag", "--list").split()
    if tags:
        git(dest, "tag", "--delete", *tags)
    # Commit the checkout's working tree, as Copier does for a dirty local template: the
    # clone's index starts empty, so the commit holds exactly the files git would track
    # there (its .gitignore decides), deletions included.
    worktree_env = {"GIT_DIR": str(dest / ".git"), "GIT_WORK_TREE": str(REPO_ROOT)}
    git(dest, "add", "--all", env=worktree_env)
    if git(dest, "status", "--porcelain", env=worktree_env).strip():
        git(dest, "commit", "--quiet", "-m", "working tree of the checkout", env=worktree_env)
    git(dest, "checkout", "--quiet", "--force", "HEAD")
    return dest


def release_history(clone: Path) -> History | None:
    """Tag the newest release commit and HEAD; None if there is no release or no change.

    HEAD gets the version CHANGELOG.md names for the next release (migrations are keyed on
    it); if the changelog has no section after the release yet, the next patch version.
    """
    found = releases(clone)
    if not found:
        return None
    old, release_sha = found[0]
    if _tree(clone, release_sha) == _tree(clone, "HEAD"):
        return None
    top = changelog_top_version()
    if version_key(top) > version_key(old):
        new = top
    else:
        major, minor, patch = version_key(old)
        new = f"{major}.{minor}.{patch + 1}"
    git(clone, "tag", old, release_sha)
    git(clone, "tag", new, "HEAD")
    return History(repo=clone, old=old, new=new)


def _tree(repo: Path, ref: str) -> str:
    return git(repo, "rev-parse", f"{ref}^{{tree}}").strip()


def synthetic_history(
    clone: Path, make_old: Callable[[Path], None], make_new: Callable[[Path], None]
) -> History:
    """Tag HEAD's tree changed by `make_old` as the older version, by `make_new` the newer.

    The newer version is CHANGELOG.md's top one. The older one is the last version before
    the migration these tests exercise (SEED_RENAME_FROM), so that migration runs on every
    update, as it does for a project generated from that release.
    """
    new = changelog_top_version()
    old = SEED_RENAME_FROM
    assert version_key(old) < version_key(new), f"CHANGELOG.md's top version {new} is too old"
    head = git(clone, "rev-parse", "HEAD").strip()
    make_old(clone)
    git(clone, "add", "--all")
    git(clone, "commit", "--quiet", "-m", f"synthetic older version {old}")
    git(clone, "tag", old)
    git(clone, "read-tree", "--reset", "-u", head)
    make_new(clone)
    git(clone, "add", "--all")
    git(clone, "commit", "--quiet", "--allow-empty", "-m", f"synthetic newer version {new}")
    git(clone, "tag", new)
    return History(repo=clone, old=old, new=new)


# ------------------------------------------------ the migration under test

# Template 0.2.0 renamed the environment variable SEED_FILE to <CONTEXT>_SEED_FILE (one
# variable per bounded context) and refuses the old name; the migration renames it in the
# files an update does not rewrite: the user's overlays, .env files, own code.
SEED_OLD = "SEED_FILE"
SEED_RENAME_FROM, SEED_RENAME_TO = "0.1.0", "0.2.0"
# How the template spells the new name, and the package that names the old one on purpose.
SEED_NEW_TEMPLATE = "{{ context_name | upper }}_SEED_FILE"
SEED_KEEP = "internal/platform/config"
_SEED_OLD_WORD = re.compile(rf"(?<![A-Za-z0-9_]){SEED_OLD}(?![A-Za-z0-9_])")
_CONFIG_TEMPLATE = Path("template", "internal", "platform", "config")


def seed_variable(context: str) -> str:
    """The seed variable of a context since 0.2.0, e.g. INVENTORY_SEED_FILE."""
    return f"{context.upper()}_SEED_FILE"


# What 0.2.0 added to refuse SEED_FILE: the call in Load (with its comment and guard), the
# reader method, and the config test of the refusal.
_SEED_REFUSAL = (
    re.compile(r"\n\{%- if example_domain %\}\n(?:\t//[^\n]*\n)*\tr\.renamed\(.*\n\{%- endif %\}"),
    re.compile(r"\n\n(?://[^\n]*\n)*func \(r \*reader\) renamed\(.*?\n\}", re.DOTALL),
    re.compile(
        r"\{%- if example_domain %\}\n\nfunc TestLoadRefusesTheOldSeedVariable\(.*?\n\}\n"
        r"\{%- endif %\}\n\n",
        re.DOTALL,
    ),
)


def undo_seed_rename(template_repo: Path) -> None:
    """Make a template checkout read SEED_FILE again, as versions before 0.2.0 did."""
    config = template_repo / _CONFIG_TEMPLATE
    for name, pattern in zip(
        ("config.go.jinja", "config.go.jinja", "config_test.go.jinja"), _SEED_REFUSAL, strict=True
    ):
        text = (config / name).read_text(encoding="utf-8")
        updated, count = pattern.subn("", text)
        if count != 1:
            raise AssertionError(f"{config / name}: no {pattern.pattern!r} to undo")
        (config / name).write_text(updated, encoding="utf-8")
    for path in sorted((template_repo / "template").rglob("*")):
        if path.is_file() and path.suffix not in {".png"}:  # the README's picture is binary
            text = path.read_text(encoding="utf-8")
            if SEED_NEW_TEMPLATE in text:
                path.write_text(text.replace(SEED_NEW_TEMPLATE, SEED_OLD), encoding="utf-8")


def migrates_seed_file(history: History, old_project: Path) -> bool:
    """Whether updating `old_project` along `history` runs the SEED_FILE migration: the
    update crosses 0.2.0 and the project has the example domain (copier.yml's `when`)."""
    crosses = version_key(history.old) < version_key(SEED_RENAME_TO) <= version_key(history.new)
    config = (history.repo / "copier.yml").read_text(encoding="utf-8")
    return crosses and "rename_env_var.py" in config and has_example_domain(old_project)


def run_seed_migration(project: Path, context: str) -> subprocess.CompletedProcess[str]:
    """The migration as copier.yml runs it, in `project`."""
    return subprocess.run(
        [
            sys.executable,
            str(ENV_RENAME_SCRIPT),
            SEED_OLD,
            seed_variable(context),
            "--keep",
            SEED_KEEP,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )


def run_seed_loader_migration(project: Path, context: str) -> subprocess.CompletedProcess[str]:
    """The 0.2.0 migration that adds the seed adapter's file loader, as copier.yml runs it."""
    module = (project / "go.mod").read_text(encoding="utf-8").split()[1]
    return subprocess.run(
        [sys.executable, str(SEED_LOADER_SCRIPT), str(REPO_ROOT), context, module],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )


def old_seed_mentions(project: Path) -> list[str]:
    """`path:line` of every whole-word SEED_FILE outside the package that refuses it."""
    found = []
    for relative, content in tree_files(project).items():
        if relative.startswith(f"{SEED_KEEP}/") or b"\0" in content:
            continue
        for number, line in enumerate(content.decode("utf-8").splitlines(), start=1):
            if _SEED_OLD_WORD.search(line):
                found.append(f"{relative}:{number}")
    return found


# -------------------------------------------------------------- projects


def generate(history: History, version: str, dest: Path, answers: Mapping[str, Any]) -> Path:
    """Render the template at `version` into `dest` (tasks skipped) and commit it.

    The history's tags do not move, so each version and answers is rendered once (beside
    the history's repository) and later calls copy that render: the same files, made in
    milliseconds instead of seconds.
    """
    key = hashlib.sha256(
        json.dumps(
            [str(history.repo), version, dict(answers)], sort_keys=True, default=str
        ).encode()
    ).hexdigest()[:16]
    pristine = history.repo.parent / "generated" / key
    if not pristine.exists():
        scratch = pristine.with_name(f".{key}.rendering")
        shutil.rmtree(scratch, ignore_errors=True)
        run_copy(
            str(history.repo),
            scratch,
            data=dict(answers),
            vcs_ref=version,
            defaults=True,
            unsafe=True,
            skip_tasks=True,
            quiet=True,
        )
        scratch.rename(pristine)
    shutil.copytree(pristine, dest, symlinks=True, dirs_exist_ok=True)
    git(dest, "init", "--quiet")
    commit_all(dest, f"Generate from template {version}")
    return dest


# Answers whose default changed between versions: an update keeps the recorded value (it
# is the user's answer now), so a fresh copy to compare with must be given it too.
KEPT_ANSWERS = ("description",)


def kept_answers(project: Path) -> dict[str, Any]:
    """The answers of `project` that an update keeps although the default changed."""
    recorded = yaml.safe_load((project / ANSWERS_FILE).read_text(encoding="utf-8"))
    return {key: recorded[key] for key in KEPT_ANSWERS if key in recorded}


def commit_all(project: Path, message: str) -> None:
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--allow-empty", "-m", message)


def context_name(project: Path) -> str:
    match = re.search(r"^context_name: (\S+)$", (project / ANSWERS_FILE).read_text(), re.M)
    assert match, f"no context_name in {project / ANSWERS_FILE}"
    return match.group(1)


def has_example_domain(project: Path) -> bool:
    match = re.search(r"^example_domain: (\S+)$", (project / ANSWERS_FILE).read_text(), re.M)
    assert match, f"no example_domain in {project / ANSWERS_FILE}"
    return match.group(1) == "true"


def is_user_owned(relative: str, context: str) -> bool:
    """Files `copier update` never touches (copier.yml's `_exclude` on update)."""
    if relative.startswith("cmd/") and relative.endswith(
        ("/downstream.go", "/metrics.go", "/contract_test.go")
    ):
        return True  # the example context's downstream and metrics wiring, provider states
    return relative.startswith((f"internal/{context}/", "deploy/kustomize/overlays/", "contracts/"))


def tree_files(root: Path) -> dict[str, bytes]:
    """Every file under `root` except .git, by relative POSIX path."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def leftovers(project: Path) -> list[str]:
    """Rejected patches and conflict markers anywhere in the project."""
    found = []
    for relative, content in tree_files(project).items():
        markers = {b"<<<<<<< before updating", b">>>>>>> after updating"}
        lines = {line.rstrip() for line in content.splitlines()}
        if relative.endswith((".rej", ".orig")) or markers & lines:
            found.append(relative)
    return found


def diff_trees(actual: Mapping[str, bytes], expected: Mapping[str, bytes]) -> list[str]:
    """Paths that differ between two trees, each with how: missing, extra or changed."""
    problems = [f"missing: {path}" for path in sorted(expected.keys() - actual.keys())]
    problems += [f"extra: {path}" for path in sorted(actual.keys() - expected.keys())]
    problems += [
        f"changed: {path}"
        for path in sorted(expected.keys() & actual.keys())
        if expected[path] != actual[path]
    ]
    return problems


def expected_after_update(
    fresh_new: Path,
    old: Path,
    dest: Path,
    *,
    migrate: bool,
    edit: Callable[[Path], None] | None = None,
) -> dict[str, bytes]:
    """What an updated project must hold: the newer render where the template owns or
    shares a file, the older render where the user owns it, the user's edits on both,
    and the SEED_FILE migration if `migrate`."""
    context = context_name(old)
    dest.mkdir(parents=True)
    for source, keep_user_owned in ((fresh_new, False), (old, True)):
        for relative, content in tree_files(source).items():
            if is_user_owned(relative, context) == keep_user_owned:
                (dest / relative).parent.mkdir(parents=True, exist_ok=True)
                (dest / relative).write_bytes(content)
    if edit is not None:
        edit(dest)
    if migrate:
        run_seed_migration(dest, context)
        run_seed_loader_migration(dest, context)
    return tree_files(dest)


def replace_in(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in a file; a missing anchor fails loudly."""
    text = path.read_text(encoding="utf-8")
    if old not in text:
        raise AssertionError(f"{path}: anchor not found:\n{old}")
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def remove_tree(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


# ------------------------------------------------------------ user edits

# Realistic edits of a project generated with the default answers (context inventory,
# aggregate stock), made at the older version: a new domain rule with its test, a new
# endpoint in the HTTP adapter and the API spec, a changed overlay value and a deleted
# example file. `edit_shared` is the part in files the template shares with the user.
NEW_RULE = """
// Release returns quantity reserved units to the available pool, e.g. when an
// order is cancelled. It fails with ErrInvalidArgument for a zero quantity or
// more units than are reserved; on failure the stock is unchanged.
func (s *Stock) Release(quantity Quantity) error {
	if quantity.IsZero() {
		return Errorf(CodeInvalidArgument, "release quantity must be at least 1")
	}
	if quantity.units > s.reserved.units {
		return Errorf(CodeInvalidArgument, "stock %q has %d reserved, %d to release",
			s.id.value, s.reserved.units, quantity.units)
	}
	s.reserved.units -= quantity.units
	return nil
}
"""
NEW_RULE_TEST = """package domain_test

import (
	"errors"
	"testing"

	"example.com/inventory-service/internal/inventory/domain"
)

func TestReleaseReturnsReservedUnits(t *testing.T) {
	t.Parallel()
	id, err := domain.ParseStockID("sku-1")
	if err != nil {
		t.Fatal(err)
	}
	stock, err := domain.NewStock(id, quantity(t, 10))
	if err != nil {
		t.Fatal(err)
	}
	if err := stock.Reserve(quantity(t, 4)); err != nil {
		t.Fatal(err)
	}
	if err := stock.Release(quantity(t, 3)); err != nil {
		t.Fatalf("Release(3) = %v, want nil", err)
	}
	if got := stock.Available().Int(); got != 9 {
		t.Errorf("Available() = %d after releasing 3 of 4 reserved, want 9", got)
	}
	if err := stock.Release(quantity(t, 2)); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Errorf("Release(2) with 1 reserved = %v, want ErrInvalidArgument", err)
	}
}

func quantity(t *testing.T, units int) domain.Quantity {
	t.Helper()
	q, err := domain.NewQuantity(units)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
"""
NEW_ROUTE = '	r.Handle("GET /v1/stocks/{id}/availability", http.HandlerFunc(h.availability))\n'
NEW_HANDLER = """
// availability answers how many units can still be reserved, for clients that
// need nothing else.
func (h *Handler) availability(w http.ResponseWriter, r *http.Request) {
	view, err := h.svc.Stock(r.Context(), r.PathValue("id"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	respond.JSON(w, http.StatusOK, map[string]any{"id": view.ID, "available": view.Available})
}
"""
NEW_PATH_SPEC = """  /v1/stocks/{id}/availability:
    get:
      tags: [stocks]
      operationId: getStockAvailability
      summary: Units of a stock that can still be reserved
      parameters:
        - $ref: "#/components/parameters/StockID"
      responses:
        "200":
          description: The stock's ID and its available units.
        "404":
          $ref: "#/components/responses/NotFound"

"""
DELETED_EXAMPLE_FILE = "internal/inventory/adapter/seed/seed_test.go"
PROD_OVERLAY = "deploy/kustomize/overlays/prod/kustomization.yaml"
DEV_OVERLAY = "deploy/kustomize/overlays/dev/kustomization.yaml"
HTTP_ADAPTER = Path("internal", "inventory", "adapter", "http")
# Where a project at 0.1.0 sets SEED_FILE: a literal of the dev overlay's ConfigMap and a
# .env file of the user's own (the template has none).
SEED_LITERAL = "      - SEED_FILE=/etc/seed/stocks.json\n"
DOT_ENV = ".env"
DOT_ENV_TEXT = "# Local settings for `make run`: set -a; . ./.env; set +a\nSEED_FILE=seed.json\n"


def edit_user_owned(project: Path) -> None:
    domain = project / "internal" / "inventory" / "domain"
    with (domain / "stock.go").open("a", encoding="utf-8") as stock:
        stock.write(NEW_RULE)
    (domain / "release_test.go").write_text(NEW_RULE_TEST, encoding="utf-8")
    handler = project / HTTP_ADAPTER / "handler.go"
    reserve_route = (
        '	r.Handle("POST /v1/stocks/{id}/reservations", http.HandlerFunc(h.reserve))\n'
    )
    replace_in(handler, reserve_route, reserve_route + NEW_ROUTE)
    with handler.open("a", encoding="utf-8") as source:
        source.write(NEW_HANDLER)
    # The adapter's test lists every route it registers.
    get_route = '\t\t"GET /v1/stocks/{id}",\n'
    replace_in(
        project / HTTP_ADAPTER / "handler_test.go",
        get_route,
        get_route + '\t\t"GET /v1/stocks/{id}/availability",\n',
    )
    replace_in(
        project / PROD_OVERLAY,
        "path: /spec/maxReplicas\n        value: 10\n",
        "path: /spec/maxReplicas\n        value: 12\n",
    )
    (project / DELETED_EXAMPLE_FILE).unlink()


def edit_shared(project: Path) -> None:
    replace_in(
        project / "api" / "openapi.yaml", "\ncomponents:\n", "\n" + NEW_PATH_SPEC + "components:\n"
    )


def edit_all(project: Path) -> None:
    edit_user_owned(project)
    edit_shared(project)


def set_seed_file(project: Path) -> None:
    """Set SEED_FILE where a project at 0.1.0 would: the dev overlay and a .env file."""
    replace_in(
        project / DEV_OVERLAY,
        "      - LOG_LEVEL=debug\n",
        "      - LOG_LEVEL=debug\n" + SEED_LITERAL,
    )
    (project / DOT_ENV).write_text(DOT_ENV_TEXT, encoding="utf-8")


def edit_all_and_set_seed_file(project: Path) -> None:
    edit_all(project)
    set_seed_file(project)
