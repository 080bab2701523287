"""Render the template into a new folder through Copier's Python API, tasks skipped.

Every rule about answers lives in copier.yml and is applied by Copier, which validates the
answers it is given and the defaults it derives from them. Before that, a pretend run that
renders nothing reads the questions, so each `-d` value is checked against its question's
type and unknown questions are refused with messages that name them.
"""

from __future__ import annotations

import re
import shutil
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import jinja2
from copier import run_copy
from copier.errors import CopierAnswersInterrupt, CopierError, CopierWarning, UserMessageError

from gosvc.answers import typed_answers
from gosvc.errors import InputError
from gosvc.template import TemplateSource

_VALIDATION_ERROR = re.compile(r"^Validation error for question '([^']+)': (.*)$", re.DOTALL)
# Excluding every path makes a pretend run stop after the questions: nothing to render.
_RENDER_NOTHING = ("*",)


class RenderError(Exception):
    """The template itself failed to render with valid answers: a template defect."""


@dataclass(frozen=True)
class Rendered:
    dest: Path
    # What the answers file records, and every question's value (computed ones too).
    answers: dict[str, Any]
    values: dict[str, Any]
    template_commit: str | None
    next_steps: str
    seconds: float


def render_project(
    source: TemplateSource,
    dest: Path,
    data: Mapping[str, Any],
    *,
    defaults: bool,
    notes: TextIO | None = None,
) -> Rendered:
    """Render `source` into `dest`, which must not exist or be empty.

    Raises InputError for a bad answer or destination (nothing is left behind) and
    RenderError when valid answers do not render.
    """
    _check_destination(dest)
    existed = dest.exists()
    started = time.monotonic()
    with copier_notes(notes):
        with as_input_errors(source, provided=set(data)):
            typed = typed_answers(data, _questions_checking(source, dest, data))
        try:
            with as_input_errors(source, provided=set(data)):
                worker = run_copy(
                    source.src,
                    dest,
                    data=typed,
                    vcs_ref=source.vcs_ref,
                    defaults=defaults,
                    quiet=True,
                    unsafe=True,
                    skip_tasks=True,
                )
        except jinja2.TemplateError as error:
            _remove_partial(dest, existed)
            raise RenderError(f"the template failed to render: {error}") from error
        except BaseException:
            _remove_partial(dest, existed)
            raise
    combined = worker.answers.combined
    hidden = worker.answers.hidden
    answers = {
        key: value
        for key, value in worker.answers.user.items()
        if key in worker.template.questions_data and (key not in hidden or key in typed)
    }
    next_steps = worker.jinja_env.from_string(worker.template.message_after_copy).render(
        **combined, _copier_conf={"dst_path": dest}
    )
    return Rendered(
        dest=dest,
        answers=answers,
        values={key: combined[key] for key in worker.template.questions_data if key in combined},
        template_commit=worker.template.commit,
        next_steps=next_steps.strip("\n"),
        seconds=time.monotonic() - started,
    )


def _check_destination(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError(f"{dest} already exists and is not an empty folder; choose a new path")


def _questions_checking(
    source: TemplateSource, dest: Path, data: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The template's questions, from a pretend run that already validates `data` and the
    defaults derived from it.

    A value of the wrong type fails that run with a message that does not name its
    question (Copier's int('abc')); the questions read without the data then tell which.
    """
    try:
        return read_questions(source, dest, data)
    except (ValueError, TypeError) as error:
        if _VALIDATION_ERROR.match(str(error)):
            raise
        typed_answers(data, read_questions(source, dest))
        raise


def read_questions(
    source: TemplateSource, dest: Path, data: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """The template's questions and their settings, from a pretend run that renders nothing."""
    worker = run_copy(
        source.src,
        dest,
        data=dict(data or {}),
        vcs_ref=source.vcs_ref,
        defaults=True,
        pretend=True,
        quiet=True,
        unsafe=True,
        skip_tasks=True,
        exclude=_RENDER_NOTHING,
    )
    return dict(worker.template.questions_data)


@contextmanager
def as_input_errors(source: TemplateSource, provided: set[str]) -> Iterator[None]:
    """Turn Copier's exceptions about answers and sources into one-line InputErrors."""
    try:
        yield
    except CopierAnswersInterrupt:
        raise KeyboardInterrupt from None
    except ValueError as error:
        match = _VALIDATION_ERROR.match(str(error))
        if match is None:
            raise InputError(str(error)) from None
        question, rule = match.group(1), " ".join(match.group(2).split())
        message = rule if rule.startswith(question) else f"{question}: {rule}"
        if question not in provided:
            message += (
                f" (the default derived from your other answers; set it with -d {question}=...)"
            )
        raise InputError(message) from None
    except UserMessageError as error:
        raise InputError(error.message) from None
    except OSError as error:
        if error.filename is not None:  # the destination or another local path
            raise InputError(f"{error.filename}: {error.strerror}") from None
        # git failed to fetch or check out the template: its last words say why.
        said = str(getattr(error, "stderr", "") or error).strip().splitlines()
        reason = said[-1].strip() if said else type(error).__name__
        raise InputError(f"cannot use template {source.src}: {reason}") from None
    except CopierError as error:
        raise InputError(str(error) or type(error).__name__) from None


@contextmanager
def copier_notes(out: TextIO | None) -> Iterator[None]:
    """Show Copier's warnings (e.g. uncommitted template changes) once each, as notes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CopierWarning)
        try:
            yield
        finally:
            if out is not None:
                seen: set[str] = set()
                for warning in caught:
                    text = " ".join(str(warning.message).split())
                    if issubclass(warning.category, CopierWarning) and text not in seen:
                        seen.add(text)
                        print(f"note: {text}", file=out)


def _remove_partial(dest: Path, existed: bool) -> None:
    """Leave nothing behind after a failed render (Copier removes only folders it created)."""
    if not dest.exists():
        return
    if not existed:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
