"""Migration: rename an environment variable where the project configures it.

    python rename_env_var.py OLD_NAME NEW_NAME [--keep PATH]...

Run by `copier update` in the project root, after the update, with Copier's Python. The
service's own code already reads NEW_NAME when this runs; what still says OLD_NAME is what
the update does not rewrite for you: the Kustomize overlays and the bounded context's code
(yours, so the update leaves them alone), `.env` files, `docker-compose.yml`, scripts.

Only files where a variable name is configuration are changed: YAML, JSON, TOML and other
configuration formats, `.env` files, shell and batch scripts, Makefiles, Dockerfiles and Go
code. Prose (README, CHANGELOG, other Markdown and text files) is left alone: there the old
name may be history. In those files every whole-word OLD_NAME becomes NEW_NAME: with
OLD_NAME SEED_FILE, `SEED_FILE=x`, `$SEED_FILE` and `"SEED_FILE"` change, while
INVENTORY_SEED_FILE and SEED_FILE_PATH do not, so a second run finds nothing to do. Each
changed file is printed with its count. Left alone too: the folders below that hold no
project text (.git, vendor, node_modules, .venv), symbolic links, files that are not UTF-8
text or are larger than 4 MiB, and each PATH given with --keep (a file or a folder,
relative to the root), for places that name the old variable on purpose, such as the code
that refuses it.

A changed file is written beside the original and then renamed over it, so an interrupted
run leaves each file either as it was or fully migrated. Line endings and file modes are
kept. Standard library only: it runs in Copier's interpreter.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

# Folders that hold no text of the project: version control, vendored or installed code.
_SKIP_DIRS = frozenset({".git", "vendor", "node_modules", ".venv"})
# Larger files are data, not configuration; reading them would only cost memory.
_MAX_BYTES = 4 << 20
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Where a variable name is configuration: by suffix, or by file name.
# fmt: off
_CONFIG_SUFFIXES = frozenset({
    ".yaml", ".yml", ".json", ".toml", ".ini", ".cfg", ".conf", ".env", ".properties",
    ".sh", ".bash", ".zsh", ".cmd", ".bat", ".ps1", ".mk", ".go", ".service", ".tf",
    ".tfvars", ".hcl", ".jsonnet", ".libsonnet", ".cue",
})
_CONFIG_NAMES = frozenset({
    "Makefile", "GNUmakefile", "makefile", "Dockerfile", "Containerfile", "Procfile",
    "Justfile", "justfile", ".envrc",
})
# fmt: on


def occurrences(name: str) -> re.Pattern[str]:
    """`name` as a whole word: not part of a longer name such as PREFIX_NAME or NAME_SUFFIX."""
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")


def project_files(root: Path, keep: Sequence[Path]) -> Iterator[Path]:
    """Every configuration file under `root` the migration may change."""
    kept = {(root / path).resolve() for path in keep}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [
            name
            for name in dirs
            if name not in _SKIP_DIRS
            and not (here / name).is_symlink()
            and (here / name).resolve() not in kept
        ]
        for name in files:
            path = here / name
            if (
                is_configuration(path)
                and not path.is_symlink()
                and path.is_file()
                and path.resolve() not in kept
            ):
                yield path


def is_configuration(path: Path) -> bool:
    """True for a file whose variable names configure something (not prose, not data)."""
    name = path.name
    return (
        path.suffix.lower() in _CONFIG_SUFFIXES
        or name in _CONFIG_NAMES
        or name.startswith((".env", "Dockerfile", "docker-compose", "compose."))
    )


def replace_atomically(path: Path, data: bytes) -> None:
    """Write `data` beside `path`, with its mode, then rename it over `path`."""
    mode = stat.S_IMODE(path.stat().st_mode)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        temporary.chmod(mode)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_text(path: Path) -> str | None:
    """The file's text exactly as stored, or None for a binary, non-UTF-8 or large file."""
    try:
        if path.stat().st_size > _MAX_BYTES:
            return None
        data = path.read_bytes()
    except OSError as error:
        # E.g. a root-owned file a container left in a volume folder: say so, go on.
        print(f"migration: cannot read {path}, left as it is: {error.strerror}", file=sys.stderr)
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def rename(root: Path, old: str, new: str, keep: Sequence[Path] = ()) -> list[tuple[Path, int]]:
    """Replace whole-word `old` with `new` in the project's configuration files.

    Returns each changed file, relative to `root`, with its number of replacements.
    """
    pattern = occurrences(old)
    changed = []
    for path in sorted(project_files(root, keep)):
        text = read_text(path)
        if text is None:
            continue
        updated, count = pattern.subn(new, text)
        if count:
            # Bytes in, bytes out: CRLF line endings stay, and the file keeps its mode.
            replace_atomically(path, updated.encode("utf-8"))
            changed.append((path.relative_to(root), count))
    return changed


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rename_env_var.py",
        description="Rename an environment variable in the project's configuration files.",
    )
    parser.add_argument("old", metavar="OLD_NAME")
    parser.add_argument("new", metavar="NEW_NAME")
    parser.add_argument(
        "--keep",
        metavar="PATH",
        type=Path,
        action="append",
        default=[],
        help="a file or folder, relative to the project root, to leave as it is",
    )
    args = parser.parse_args(argv)
    for name in (args.old, args.new):
        if not _ENV_NAME.fullmatch(name):
            parser.error(f"{name!r} is not an environment variable name")
    if args.old == args.new:
        parser.error("OLD_NAME and NEW_NAME are the same")
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    changed = rename(Path.cwd(), args.old, args.new, args.keep)
    if not changed:
        print(f"migration {args.old} -> {args.new}: nothing to do")
    for path, count in changed:
        times = "once" if count == 1 else f"{count} times"
        print(f"migration: {args.old} -> {args.new} in {path.as_posix()} ({times})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
