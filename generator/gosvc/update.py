"""`gosvc update`: bring a generated project to a newer template version, keeping its edits.

Copier does the three-way merge (`run_update` with inline conflicts). Around it this module
adds what a user needs: it refuses a project that is not a clean git work tree (the update
must be reviewable and undoable with git), checks the answers file against the new
template before anything is written (Copier itself silently replaces an answer the new
template rejects with the default, which could rename the whole service), lists the files
left with conflicts, runs the project checks on the merged result and prints a summary.
`--check` only asks whether a newer template version exists.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml
from copier import run_update
from copier.errors import TaskError

from gosvc import EXIT_CHECK_FAILED, EXIT_OK, checks
from gosvc.answers import is_computed
from gosvc.errors import InputError, ToolMissingError
from gosvc.render import as_input_errors, copier_notes, read_questions, validate_data, worker_for
from gosvc.template import TemplateSource, looks_remote

ANSWERS_FILE = ".copier-answers.yml"
# The labels Copier gives the sides of an inline conflict.
_CONFLICT_START = "<<<<<<< before updating"
_CONFLICT_END = ">>>>>>> after updating"


class TaskFailedError(Exception):
    """A migration script or task of the template failed during the update."""

    def __init__(self, cmd: object, returncode: int) -> None:
        parts = cmd if isinstance(cmd, (list, tuple)) else [cmd]
        self.command = " ".join(str(part) for part in parts)
        self.returncode = returncode
        super().__init__(f"{self.command} exited with {returncode}")


@dataclass(frozen=True)
class Outcome:
    """What an update did to the project, as the summary reports it."""

    version_before: str
    version_after: str
    changed: tuple[str, ...]
    conflicted: tuple[str, ...]
    new_answers: Mapping[str, Any]


def update_project(project: Path, *, to: str | None = None, out: TextIO | None = None) -> int:
    """Update `project` to template ref `to` (default: the latest release); an exit code.

    Raises InputError, with nothing changed, for a project that cannot be updated.
    """
    stream = out if out is not None else sys.stdout
    project = project.resolve()
    _require_clean_git_tree(project)
    answers = read_answers(project)
    source = TemplateSource(str(answers["_src_path"]), to)
    target = to or "the latest release"
    print(
        f"Updating {project.name} from template {answers['_commit']} to {target} ...",
        file=stream,
    )

    started = time.monotonic()
    with copier_notes(stream):
        validate_answers(answers, source)
        print(f"  answers in {ANSWERS_FILE} are valid for the new template", file=stream)
        data = answers_new_questions_need(answers)
        for name, value in data.items():
            print(f"  {name}: {str(value).lower()} ({NEW_QUESTION_NOTES[name]})", file=stream)
        try:
            _run_copier_update(project, source, data)
        except TaskFailedError as error:
            _restore(project)
            print(
                f"A template migration or task failed (exit code {error.returncode}; its output is "
                f"above): {error.command}. The project was restored to its last "
                "commit; please report this with the two template versions.",
                file=stream,
            )
            return EXIT_CHECK_FAILED
        except BaseException:
            # The work tree was clean, so its last commit is exactly what the user had.
            _restore(project)
            raise
    outcome = _outcome(project, answers)
    print(
        f"  copier update done in {time.monotonic() - started:.1f}s: "
        f"{_count(len(outcome.changed), 'file')} changed",
        file=stream,
    )
    # A new version that changes no file still moves the recorded version (the answers
    # file): that is an update to check and commit like any other.
    if not outcome.changed and outcome.version_after == outcome.version_before:
        print(
            f"Already at template {outcome.version_after}: nothing changed.",
            file=stream,
        )
        return EXIT_OK

    report = _run_checks(project, stream)
    _print_summary(outcome, report, stream)
    checks_failed = report is not None and not report.ok
    return EXIT_CHECK_FAILED if outcome.conflicted or checks_failed else EXIT_OK


def check_for_update(project: Path, *, out: TextIO | None = None) -> int:
    """Say whether a newer template release exists: exit 0 if not, 1 if it does."""
    stream = out if out is not None else sys.stdout
    project = project.resolve()
    read_answers(project)
    # Copier's `check-update` command is its public interface to this question.
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "copier",
            "check-update",
            "--output-format",
            "json",
            str(project),
        ],
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        check=False,
    )
    try:
        data = json.loads(completed.stdout)
    except json.JSONDecodeError:
        reason = _last_line(completed.stderr) or f"copier exited with {completed.returncode}"
        raise InputError(f"cannot check {project} for template updates: {reason}") from None
    current, latest = data["current_version"], data["latest_version"]
    if data["update_available"]:
        print(
            f"{project.name}: template {latest} is available (project is at {current}); "
            f"run `gosvc update {project}`.",
            file=stream,
        )
        return EXIT_CHECK_FAILED
    print(f"{project.name}: up to date with template {current}.", file=stream)
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `gosvc update` to the CLI (`subparsers` from ArgumentParser.add_subparsers)."""
    parser = subparsers.add_parser(
        "update",
        help="update a generated service to a newer template version",
        description="Update the project in PATH to a newer template version with Copier's "
        "three-way merge (conflicts inline), list conflicted files, then run the project "
        "checks: " + checks.describe(checks.steps()) + ". The project must be a clean git "
        "work tree. Exit 1 on conflicts or a failed check.",
    )
    parser.add_argument(
        "path",
        type=Path,
        nargs="?",
        default=Path(),
        metavar="PATH",
        help="the generated project (default: the current folder)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--to",
        metavar="REF",
        help="template git ref (tag, branch or commit) to update to (default: latest release)",
    )
    mode.add_argument(
        "--check",
        action="store_true",
        help="only say whether a newer template release exists (exit 1 if one does)",
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if args.check:
        return check_for_update(args.path)
    return update_project(args.path, to=args.to)


def read_answers(project: Path) -> dict[str, Any]:
    """The project's answers file, checked to name the template it came from."""
    path = project / ANSWERS_FILE
    if not path.is_file():
        raise InputError(
            f"{project} has no {ANSWERS_FILE}: it is not a project generated from this "
            "template (or the answers file was deleted)"
        )
    try:
        answers = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InputError(f"{path} is not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(answers, dict):
        raise InputError(f"{path} must be a mapping of answers, e.g. service_name: orders")
    for key in ("_src_path", "_commit"):
        if not answers.get(key):
            raise InputError(
                f"{path} has no {key}: Copier records there which template and version "
                "generated the project; restore it from git history"
            )
    src = str(answers["_src_path"])
    if not looks_remote(src) and not Path(src).is_absolute():
        raise InputError(
            f"{ANSWERS_FILE} records the template as '{src}', a path relative to where "
            "copier ran, which cannot be found from the project: set _src_path there to "
            "the template's absolute path or git URL, commit, and retry"
        )
    return answers


def validate_answers(answers: Mapping[str, Any], source: TemplateSource) -> None:
    """Raise InputError naming the first answer the target template rejects.

    Copier applies the template's types and validators to answers given as data; the
    answers of questions the new template no longer asks are left out, as Copier does. An
    answer missing for a question the project's own version asks is an error too: Copier
    would quietly take the default (a deleted service_name would rename the service).
    """
    given = {key: value for key, value in answers.items() if not key.startswith("_")}
    recorded = TemplateSource(source.src, str(answers["_commit"]))
    with tempfile.TemporaryDirectory(prefix="gosvc-update-") as scratch:
        dest = Path(scratch) / "project"
        # Each version is fetched once: the target's questions first, outside the
        # answers-file wording below (a --to ref that does not exist is not the answers
        # file's fault), then the same checkout validates the answers.
        with worker_for(source, dest, pretend=True) as target:
            questions = read_questions(target, source)
            try:
                with worker_for(recorded, dest, pretend=True) as old:
                    asked_before = read_questions(old, recorded)
                missing = sorted(
                    name
                    for name, question in asked_before.items()
                    if "when" not in question and name not in given
                )
                if missing:
                    raise InputError(f"no answer for {', '.join(missing)}")
                # Answers of questions the new version no longer asks are left out, as
                # Copier does; computed values are never recorded.
                asked = {
                    key: value
                    for key, value in given.items()
                    if key in questions and not is_computed(questions[key])
                }
                validate_data(target, source, asked)
            except InputError as error:
                raise InputError(
                    f"{ANSWERS_FILE}: {error.message}; fix the answer (git log -p "
                    f"{ANSWERS_FILE} shows earlier values) and retry. Nothing was changed."
                ) from None


def conflicted_files(project: Path) -> list[str]:
    """Files the update left for the user to merge, relative to `project`.

    Copier records inline conflicts as unmerged index entries; a file with conflict
    markers or a leftover `.rej` patch counts too, whatever the index says.
    """
    unmerged = _git(project, "diff", "--name-only", "-z", "--relative", "--diff-filter=U")
    found = {name for name in unmerged.split("\0") if name}
    for code, name in _status(project, ignored=True):
        # Ignored files are only looked at for leftover patches, not read.
        if name.endswith(".rej") or (code != "!!" and _has_conflict_markers(project / name)):
            found.add(name)
    return sorted(found)


# New questions whose default would turn on code that calls what a project generated
# before them may not have (its bounded context is the user's, and an update never writes
# it): for such a project the update answers them like this, and says so.
NEW_QUESTION_ANSWERS: dict[str, Any] = {"pact": False}
NEW_QUESTION_NOTES = {
    "pact": "the contract tests call the example's downstream client, which a context from"
    " before them may lack; `copier update -d pact=true` turns them on",
}


def answers_new_questions_need(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers for NEW_QUESTION_ANSWERS' questions the project's answers file lacks."""
    return {name: value for name, value in NEW_QUESTION_ANSWERS.items() if name not in answers}


def _run_copier_update(
    project: Path, source: TemplateSource, data: Mapping[str, Any] | None = None
) -> None:
    """Copier's three-way update, non-interactive: new questions take their defaults, or
    `data`."""
    with as_input_errors(source, provided=set(data or ())):
        try:
            run_update(
                project,
                vcs_ref=source.vcs_ref,
                data=dict(data or {}),
                defaults=True,
                overwrite=True,
                conflict="inline",
                unsafe=True,
                quiet=True,
            )
        except TaskError as error:
            # A migration or task of the template failed: a defect, not bad input.
            raise TaskFailedError(error.cmd, error.returncode) from error


def _require_clean_git_tree(project: Path) -> None:
    if not project.is_dir():
        raise InputError(f"{project}: no such folder")
    try:
        in_work_tree = checks.in_git_work_tree(project)
    except FileNotFoundError as error:
        raise ToolMissingError(str(error.strerror)) from None
    if not in_work_tree:
        raise InputError(
            f"{project} is not in a git work tree; the update must be reviewable and "
            'undoable: run `git init && git add -A && git commit -m "Generate"` first'
        )
    dirty = [name for _, name in _status(project)]
    if dirty:
        listed = ", ".join(dirty[:5])
        more = f" and {len(dirty) - 5} more" if len(dirty) > 5 else ""
        raise InputError(
            f"{project} has uncommitted changes ({listed}{more}); commit or stash them "
            "first so the update's changes can be reviewed and undone with git"
        )


def _outcome(project: Path, answers_before: Mapping[str, Any]) -> Outcome:
    answers_after = read_answers(project)
    changed = tuple(name for _, name in _status(project) if name != ANSWERS_FILE)
    new_answers = {
        key: value
        for key, value in answers_after.items()
        if not key.startswith("_") and key not in answers_before
    }
    return Outcome(
        version_before=str(answers_before["_commit"]),
        version_after=str(answers_after["_commit"]),
        changed=changed,
        conflicted=tuple(conflicted_files(project)),
        new_answers=new_answers,
    )


def _run_checks(project: Path, stream: TextIO) -> checks.Report | None:
    missing = checks.missing_tools()
    if missing:
        print(
            f"warning: {' and '.join(missing)} not found on PATH, so these checks were "
            f"skipped: {checks.describe(checks.steps())}; run `gosvc check {project}` "
            "once Go is installed.",
            file=stream,
        )
        return None
    print(f"Checking the updated project: {checks.describe(checks.steps())}", file=stream)
    return checks.run_checks(project, out=stream)


def _print_summary(outcome: Outcome, report: checks.Report | None, stream: TextIO) -> None:
    print(
        f"Updated from template {outcome.version_before} to {outcome.version_after}: "
        f"{_count(len(outcome.changed), 'file')} changed.",
        file=stream,
    )
    for key, value in outcome.new_answers.items():
        print(f"  new answer (default): {key}: {value!r}", file=stream)
    if outcome.conflicted:
        print(
            f"Conflicts in {_count(len(outcome.conflicted), 'file')}: keep what you need between "
            f"'{_CONFLICT_START}' and '{_CONFLICT_END}', delete the markers, then "
            "`git add` the file:",
            file=stream,
        )
        for name in outcome.conflicted:
            print(f"  {name}", file=stream)
    else:
        print("No conflicts.", file=stream)
    if report is None:
        print("Checks not run (no Go toolchain).", file=stream)
    elif report.ok:
        print(f"All checks passed in {report.seconds:.1f}s.", file=stream)
    else:
        print("A check failed (output above).", file=stream)
    print("Review the changes with `git diff`, then commit them.", file=stream)


def _restore(project: Path) -> None:
    """Put the project back to its last commit after a failed update."""
    for args in (
        ("reset", "--quiet", "--", "."),
        ("checkout", "--", "."),
        ("clean", "-d", "--force", "--quiet", "--", "."),
    ):
        subprocess.run(["git", *args], cwd=project, capture_output=True, check=False)


def _has_conflict_markers(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return False
    stripped = {line.rstrip() for line in lines}
    return _CONFLICT_START in stripped or _CONFLICT_END in stripped


def _status(project: Path, *, ignored: bool = False) -> list[tuple[str, str]]:
    """(status code, path relative to `project`) of every changed or untracked file."""
    args = ["status", "--porcelain", "-z", "--untracked-files=all"]
    if ignored:
        args.append("--ignored")
    # Porcelain paths are relative to the repository root, which may be a parent folder.
    prefix = _git(project, "rev-parse", "--show-prefix").strip()
    fields = iter(_git(project, *args, ".").split("\0"))
    entries = []
    for field in fields:
        if not field:
            continue
        code, name = field[:2], field[3:]
        if code[0] in "RC":
            next(fields)  # a rename or copy is followed by its source path
        entries.append((code, name.removeprefix(prefix)))
    return entries


def _git(project: Path, *args: str) -> str:
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=project,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            check=False,
        )
    except FileNotFoundError:
        raise ToolMissingError("git not found on PATH; install git") from None
    if completed.returncode != 0:
        raise InputError(
            f"git {' '.join(args)} failed in {project}: {_last_line(completed.stderr)}"
        )
    return completed.stdout


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
