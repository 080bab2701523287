"""The environment-variable rename migration on its own, on a small project with every kind
of file it must change or leave alone (test_update.py and test_update_release.py run it
inside `copier update` on a real service)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from support import run_tool
from update_tools import ENV_RENAME_SCRIPT, tree_files

pytestmark = pytest.mark.update

OLD, NEW = "SEED_FILE", "INVENTORY_SEED_FILE"
KEEP = "internal/platform/config"
# Each file as the project has it before the migration, and as it must be after.
BEFORE_AFTER = {
    "deploy/kustomize/overlays/dev/kustomization.yaml": (
        "configMapGenerator:\n  - literals:\n      - LOG_LEVEL=debug\n"
        "      - SEED_FILE=/seed.json\n",
        "configMapGenerator:\n  - literals:\n      - LOG_LEVEL=debug\n"
        "      - INVENTORY_SEED_FILE=/seed.json\n",
    ),
    # Names that merely contain the old one are other variables: the new name is one of them.
    ".env": (
        "SEED_FILE=seed.json\nINVENTORY_SEED_FILE=a.json\nSEED_FILE_PATH=x\nMY_SEED_FILE=y\n",
        "INVENTORY_SEED_FILE=seed.json\nINVENTORY_SEED_FILE=a.json\nSEED_FILE_PATH=x\nMY_SEED_FILE=y\n",
    ),
    "docker-compose.override.yml": (
        "services:\n  app:\n    environment:\n      SEED_FILE: /seed.json\n"
        '      ECHO: "${SEED_FILE}"\n',
        "services:\n  app:\n    environment:\n      INVENTORY_SEED_FILE: /seed.json\n"
        '      ECHO: "${INVENTORY_SEED_FILE}"\n',
    ),
    # CRLF line endings stay CRLF.
    "scripts/seed.cmd": (
        "set SEED_FILE=seed.json\r\nrun\r\n",
        "set INVENTORY_SEED_FILE=seed.json\r\nrun\r\n",
    ),
    "internal/inventory/tools/seedcheck.go": (
        'package tools\n\nimport "os"\n\n// Path is $SEED_FILE.\nfunc Path() string '
        '{ return os.Getenv("SEED_FILE") }\n',
        'package tools\n\nimport "os"\n\n// Path is $INVENTORY_SEED_FILE.\nfunc Path() string '
        '{ return os.Getenv("INVENTORY_SEED_FILE") }\n',
    ),
}
# Files that must not change, whatever they say.
LEFT_ALONE = {
    # --keep: the code that refuses the old name names it on purpose.
    f"{KEEP}/config.go": b'r.renamed("SEED_FILE", "INVENTORY_SEED_FILE")\n',
    f"{KEEP}/testdata/env": b"SEED_FILE=x\n",
    # Not the project's text: version control, vendored and installed code.
    ".git/COMMIT_EDITMSG": b"Set SEED_FILE\n",
    "vendor/example.com/lib/lib.go": b'package lib\n\nconst Name = "SEED_FILE"\n',
    "web/node_modules/pkg/index.js": b'process.env["SEED_FILE"]\n',
    ".venv/lib/site.py": b'os.environ["SEED_FILE"]\n',
    # A binary (a build from before the rename) and a file that is not UTF-8.
    "bin/inventory-service": b"\x7fELF\x00\x00SEED_FILE\x00",
    "deploy/notes-latin1.env": "Caf\xe9: SEED_FILE\n".encode("latin-1"),
    # Prose, where the old name is history: the user's docs and changelog.
    "README.md": b"Set `SEED_FILE` to seed the store.\n",
    "CHANGELOG.md": b"## 1.2.0\n\n- Renamed SEED_FILE.\n",
    "docs/operations.txt": b"SEED_FILE used to seed the store\n",
}


def write_project(root: Path) -> Path:
    files = {path: before.encode() for path, (before, _) in BEFORE_AFTER.items()} | LEFT_ALONE
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
    (root / "scripts" / "seed.cmd").chmod(0o755)
    return root


def migrate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_tool([sys.executable, str(ENV_RENAME_SCRIPT), *args], cwd=root)


def test_rename_changes_whole_words_in_the_projects_text_and_reports_each_file(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path / "svc")

    result = migrate(root, OLD, NEW, "--keep", KEEP)

    assert result.returncode == 0, result.stderr
    for relative, (_, after) in BEFORE_AFTER.items():
        assert (root / relative).read_bytes() == after.encode(), relative
    for relative, content in LEFT_ALONE.items():
        assert (root / relative).read_bytes() == content, relative
    assert (root / "scripts" / "seed.cmd").stat().st_mode & 0o777 == 0o755
    assert result.stdout.splitlines() == [
        f"migration: {OLD} -> {NEW} in .env (once)",
        f"migration: {OLD} -> {NEW} in deploy/kustomize/overlays/dev/kustomization.yaml (once)",
        f"migration: {OLD} -> {NEW} in docker-compose.override.yml (2 times)",
        f"migration: {OLD} -> {NEW} in internal/inventory/tools/seedcheck.go (2 times)",
        f"migration: {OLD} -> {NEW} in scripts/seed.cmd (once)",
    ]


def test_rename_is_idempotent(tmp_path: Path) -> None:
    root = write_project(tmp_path / "svc")
    assert migrate(root, OLD, NEW, "--keep", KEEP).returncode == 0
    after_first = tree_files(root)

    second = migrate(root, OLD, NEW, "--keep", KEEP)

    assert second.returncode == 0, second.stderr
    assert second.stdout == f"migration {OLD} -> {NEW}: nothing to do\n"
    assert tree_files(root) == after_first


def test_rename_does_not_follow_symbolic_links_out_of_the_project(tmp_path: Path) -> None:
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "team.env").write_text("SEED_FILE=team.json\n")
    root = tmp_path / "svc"
    root.mkdir()
    (root / "team.env").symlink_to(outside / "team.env")
    (root / "shared").symlink_to(outside, target_is_directory=True)

    result = migrate(root, OLD, NEW)

    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert (outside / "team.env").read_text() == "SEED_FILE=team.json\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((OLD, "SEED-FILE"), "'SEED-FILE' is not an environment variable name"),
        ((OLD, OLD), "OLD_NAME and NEW_NAME are the same"),
        ((OLD,), "the following arguments are required: NEW_NAME"),
    ],
    ids=["bad-name", "same-name", "missing-name"],
)
def test_rename_refuses_bad_arguments_and_changes_nothing(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    root = write_project(tmp_path / "svc")
    before = tree_files(root)

    result = migrate(root, *args)

    assert result.returncode == 2
    assert message in result.stderr
    assert tree_files(root) == before


def test_rename_replaces_each_file_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped while writing leaves the file as it was, and no temporary file."""
    migration = load_migration()
    root = write_project(tmp_path / "svc")
    before = tree_files(root)

    def interrupted(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", interrupted)
    with pytest.raises(OSError, match="No space left"):
        migration.rename(root, OLD, NEW, [Path(KEEP)])
    assert tree_files(root) == before


def load_migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rename_env_var", ENV_RENAME_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
