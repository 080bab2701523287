"""Create the release tags from the `release: X.Y.Z` commits (for template maintainers).

    python3 tools/release_tags.py [--push REMOTE]

Copier reads a template's version from its git tags, and gosvc's package version comes
from them too, so every release needs its tag (`0.1.0`, no `v`). A clone of a mirror that
carries no tags has the `release: X.Y.Z` commits only; this makes an annotated tag for each
one that has none, leaves existing tags alone (a tag on another commit is reported, not
moved) and prints what it did. Standard library only; run it from the repository.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# PEP 440 release versions, as CHANGELOG.md writes them.
_RELEASE = re.compile(r"^release: (\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?)$")


def git(repo: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args],
        cwd=repo,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        check=False,
    )
    if completed.returncode != 0:
        said = completed.stderr.strip().splitlines()
        raise RuntimeError(f"git {' '.join(args)}: {said[-1] if said else 'failed'}")
    return completed.stdout


def release_commits(repo: Path) -> list[tuple[str, str]]:
    """(version, commit) of every `release: X.Y.Z` commit, oldest first."""
    log = git(repo, "log", "--reverse", "--format=%H%x00%s", "HEAD")
    found = []
    for line in log.splitlines():
        commit, _, subject = line.partition("\0")
        match = _RELEASE.match(subject.strip())
        if match:
            found.append((match.group(1), commit))
    return found


def create_tags(repo: Path) -> list[str]:
    """Tag each release commit that has no tag yet; one line per release."""
    report = []
    for version, commit in release_commits(repo):
        existing = git(repo, "tag", "--list", version).strip()
        if existing:
            tagged = git(repo, "rev-list", "-n", "1", version).strip()
            state = "already tagged" if tagged == commit else f"tag is on {tagged[:12]}, left"
            report.append(f"{version}: {state}")
            continue
        git(repo, "tag", "--annotate", "--message", f"release: {version}", version, commit)
        report.append(f"{version}: tagged {commit[:12]}")
    return report


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="release_tags.py", description=__doc__.split("\n")[0])
    parser.add_argument("--push", metavar="REMOTE", help="push the release tags to REMOTE")
    args = parser.parse_args(argv)
    repo = Path.cwd()
    try:
        report = create_tags(repo)
        if args.push and report:
            versions = [line.split(":")[0] for line in report]
            git(repo, "push", args.push, *(f"refs/tags/{v}" for v in versions))
    except (RuntimeError, FileNotFoundError) as error:
        print(f"release_tags: {error}", file=sys.stderr)
        return 1
    for line in report or ["no `release: X.Y.Z` commits found"]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
