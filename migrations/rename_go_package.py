"""Migration: rename a Go package of the project, moving its folder and fixing its imports.

    python rename_go_package.py OLD_DIR NEW_DIR

Run by `copier update` in the project root, after the update, with Copier's Python. OLD_DIR
and NEW_DIR are folders relative to the root, e.g. internal/inventory/adapter/http and
internal/inventory/adapter/httpapi. The folder is user-owned, so the update itself never
touches it; the template's own files already use the new name when this runs.

- OLD_DIR (with any subpackages) moves to NEW_DIR, and the package clauses of its Go files
  (`package http`, `package http_test`, `// Package http ...`) take NEW_DIR's last element.
- Every import of OLD_DIR or a package under it, in every Go file of the module, points to
  the new path. An import without a name gets the old name as its name, so the code that
  uses it compiles unchanged (drop the name when you next touch the file); a name equal to
  the new package name is dropped as redundant.

Idempotent: once OLD_DIR is gone and no import names it, a run changes nothing. If both
folders hold Go files it stops, changing nothing: merging two packages is for a person.
Standard library only: it runs in Copier's interpreter.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Folders that hold no code of this module.
_SKIP_DIRS = {".git", "vendor", "testdata", "node_modules", "bin"}


def module_path(root: Path) -> str:
    """The module path declared in go.mod."""
    for line in (root / "go.mod").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^module\s+\"?([^\"\s]+)\"?\s*(//.*)?$", line)
        if match:
            return match.group(1)
    raise SystemExit(f"{root / 'go.mod'} has no module line")


def go_files(root: Path) -> list[Path]:
    """Every Go file of the module, outside folders that hold no code of it."""
    return sorted(
        path
        for path in root.rglob("*.go")
        if not _SKIP_DIRS.intersection(path.relative_to(root).parts[:-1])
    )


def has_go_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.rglob("*.go"))


def move_package(root: Path, old_dir: Path, new_dir: Path) -> bool:
    """Move OLD_DIR to NEW_DIR; False if there is nothing to move."""
    old, new = root / old_dir, root / new_dir
    if not has_go_files(old):
        return False
    if has_go_files(new):
        raise SystemExit(
            f"both {old_dir} and {new_dir} hold Go files; move your code from {old_dir} "
            f"into {new_dir} by hand (package {new_dir.name}), then update again"
        )
    if new.exists():
        # Left over without code, e.g. an empty folder: the move takes its place.
        for leftover in sorted(new.rglob("*"), reverse=True):
            if leftover.is_dir():
                leftover.rmdir()
            else:
                leftover.unlink()
        new.rmdir()
    new.parent.mkdir(parents=True, exist_ok=True)
    old.rename(new)
    return True


def rename_package_clauses(folder: Path, old_name: str, new_name: str) -> list[Path]:
    """Rewrite `package old` / `package old_test` and the package comment in `folder`."""
    clause = re.compile(rf"^package {re.escape(old_name)}(_test)?(\s|$)", re.MULTILINE)
    comment = re.compile(rf"^// Package {re.escape(old_name)}(\s)", re.MULTILINE)
    changed = []
    for path in sorted(folder.glob("*.go")):
        text = path.read_text(encoding="utf-8")
        updated = clause.sub(lambda m: f"package {new_name}{m.group(1) or ''}{m.group(2)}", text)
        updated = comment.sub(lambda m: f"// Package {new_name}{m.group(1)}", updated)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            changed.append(path)
    return changed


def rewrite_imports(root: Path, old_path: str, new_path: str, old_name: str) -> list[Path]:
    """Point imports of old_path (and packages under it) at new_path, in every Go file."""
    changed = []
    for path in go_files(root):
        text = path.read_text(encoding="utf-8")
        updated = _IMPORT_DECL.sub(
            lambda decl: _rewrite_specs(decl.group(0), old_path, new_path, old_name), text
        )
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            changed.append(path)
    return changed


# An import declaration: a parenthesised block or a single spec (Go has no nested parens here).
_IMPORT_DECL = re.compile(r'^import\s*(\([^)]*\)|[^\n]*"[^"\n]*")', re.MULTILINE)


def _rewrite_specs(decl: str, old_path: str, new_path: str, old_name: str) -> str:
    # One spec per line: an optional name, then the quoted path.
    spec = re.compile(
        rf"(?P<lead>^|\s)(?P<name>(?!import\s)(?:[A-Za-z_][A-Za-z0-9_]*|\.)\s+)?"
        rf'"{re.escape(old_path)}(?P<sub>/[^"]*)?"'
    )

    def replace(match: re.Match[str]) -> str:
        sub = match.group("sub") or ""
        name = match.group("name") or ""
        if not sub and not name:
            # The package was used as `old_name.X`; naming the import keeps that compiling.
            # A subpackage keeps its own package clause, so its uses need no name.
            name = f"{old_name} "
        elif not sub and name.strip() == new_path.rsplit("/", 1)[-1]:
            name = ""  # the name is now the package's own: redundant
        return f'{match.group("lead")}{name}"{new_path}{sub}"'

    return spec.sub(replace, decl)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {Path(argv[0]).name} OLD_DIR NEW_DIR", file=sys.stderr)
        return 2
    root = Path.cwd()
    old_dir, new_dir = Path(argv[1]), Path(argv[2])
    module = module_path(root)
    old_name, new_name = old_dir.name, new_dir.name

    moved = move_package(root, old_dir, new_dir)
    clauses = rename_package_clauses(root / new_dir, old_name, new_name) if moved else []
    imports = rewrite_imports(
        root, f"{module}/{old_dir.as_posix()}", f"{module}/{new_dir.as_posix()}", old_name
    )
    if not (moved or imports):
        print(f"migration {old_dir} -> {new_dir}: nothing to do")
        return 0
    if moved:
        print(f"migration: moved {old_dir} to {new_dir}, package {new_name} ({len(clauses)} files)")
    for path in imports:
        print(f"migration: imports of {old_dir} now point to {new_dir} in {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
