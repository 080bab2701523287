"""Render the template into a new folder through Copier, tasks skipped.

Every rule about answers lives in copier.yml and is applied by Copier, which validates the
answers it is given and the defaults it derives from them. gosvc adds what Copier cannot
say well: it reads the questions first (from the same template checkout Copier then
renders, so the template is fetched once), checks each `-d` value against its question's
type, refuses unknown questions and computed values, and turns Copier's exceptions into
one-line errors.

This module uses Copier's `Worker`, which Copier documents as internal: pyproject.toml pins
the Copier releases the tests prove, and the tests turn Copier's deprecation warnings into
errors, so a Copier that changes it fails the suite instead of a user's render.
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
from copier._main import Worker
from copier.errors import CopierAnswersInterrupt, CopierError, CopierWarning, UserMessageError

from gosvc.answers import typed_answers
from gosvc.errors import InputError, RenderError
from gosvc.template import TemplateSource

_VALIDATION_ERROR = re.compile(r"^Validation error for question '([^']+)': (.*)$", re.DOTALL)
# Excluding every path makes a pretend run stop after the questions: nothing to render.
_RENDER_NOTHING = ("*",)

Questions = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Rendered:
    dest: Path
    # What the answers file records, and every question's value (computed ones too).
    answers: dict[str, Any]
    values: dict[str, Any]
    template_commit: str | None
    # Copier's message after copy, rendered as Copier itself prints it.
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

    Raises InputError for a bad answer, source or destination (nothing is left behind)
    and RenderError when valid answers do not render.
    """
    _check_destination(dest)
    existed = dest.exists()
    started = time.monotonic()
    with copier_notes(notes), worker_for(source, dest, defaults=defaults) as worker:
        worker.data = typed_answers(data, read_questions(worker, source))
        try:
            with as_input_errors(source, provided=set(data), validation_only=True):
                worker.run_copy()
        except InputError:
            _remove_partial(dest, existed)
            raise
        except (jinja2.TemplateError, CopierError, ValueError, OSError) as error:
            _remove_partial(dest, existed)
            raise RenderError(f"the template failed to render: {error}") from error
        except BaseException:
            _remove_partial(dest, existed)
            raise
        next_steps = worker._render_string(worker.template.message_after_copy)
        questions = worker.template.questions_data
        combined = worker.answers.combined
        answers = {
            key: value
            for key, value in worker.answers.user.items()
            if key in questions and key not in worker.answers.hidden
        }
        return Rendered(
            dest=dest,
            answers=answers,
            values={key: combined[key] for key in questions if key in combined},
            template_commit=worker.template.commit,
            next_steps=next_steps.strip("\n"),
            seconds=time.monotonic() - started,
        )


@contextmanager
def worker_for(
    source: TemplateSource, dest: Path, *, defaults: bool = True, pretend: bool = False
) -> Iterator[Worker]:
    """A Copier worker for `source`, tasks skipped; its template is fetched on first use and
    removed on exit."""
    with Worker(
        src_path=source.src,
        dst_path=dest,
        vcs_ref=source.vcs_ref,
        defaults=defaults,
        pretend=pretend,
        exclude=_RENDER_NOTHING if pretend else (),
        quiet=True,
        unsafe=True,
        skip_tasks=True,
    ) as worker:
        yield worker


def read_questions(worker: Worker, source: TemplateSource) -> Questions:
    """The template's questions and their settings; fetching the template happens here."""
    with as_input_errors(source, provided=set()):
        return dict(worker.template.questions_data)


def validate_data(worker: Worker, source: TemplateSource, data: Mapping[str, Any]) -> None:
    """Let Copier validate `data` and the defaults derived from it, rendering nothing.

    `worker` must be a pretend worker (worker_for(..., pretend=True)).
    """
    worker.data = typed_answers(data, read_questions(worker, source))
    with as_input_errors(source, provided=set(data), validation_only=True):
        worker.run_copy()


def _check_destination(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError(f"{dest} already exists and is not an empty folder; choose a new path")


def refusal(question: str, rule: str, *, provided: bool) -> str:
    """One line for an answer a validator refused: `http_port must be ...`."""
    rule = " ".join(rule.split())
    if rule.startswith(question):
        message = rule
    elif rule.startswith("must "):
        message = f"{question} {rule}"
    else:
        message = f"{question}: {rule}"
    if not provided:
        message += f" (the default derived from your other answers; set it with -d {question}=...)"
    return message


@contextmanager
def as_input_errors(
    source: TemplateSource, provided: set[str], *, validation_only: bool = False
) -> Iterator[None]:
    """Turn Copier's exceptions about answers and sources into one-line InputErrors.

    With `validation_only`, only a validator's refusal is the user's; anything else is
    left to the caller (during a real render it is a defect of the template).
    """
    try:
        yield
    except CopierAnswersInterrupt:
        raise KeyboardInterrupt from None
    except ValueError as error:
        match = _VALIDATION_ERROR.match(str(error))
        if match is not None:
            question = match.group(1)
            raise InputError(
                refusal(question, match.group(2), provided=question in provided)
            ) from None
        if validation_only:
            raise
        raise InputError(f"cannot use template {source.src}: {error}") from None
    except UserMessageError as error:
        if validation_only:
            raise
        raise InputError(error.message) from None
    except OSError as error:
        if validation_only:
            raise
        if error.filename is not None:  # a local path
            raise InputError(f"{error.filename}: {error.strerror}") from None
        # git failed to fetch or check out the template: its last words say why.
        said = str(getattr(error, "stderr", "") or error).strip().splitlines()
        reason = said[-1].strip() if said else type(error).__name__
        raise InputError(f"cannot use template {source.src}: {reason}") from None
    except CopierError as error:
        if validation_only:
            raise
        raise InputError(str(error) or type(error).__name__) from None


@contextmanager
def copier_notes(out: TextIO | None) -> Iterator[None]:
    """Show Copier's warnings (e.g. uncommitted template changes) once each, as notes,
    after the work succeeded: a refusal stays the one line that says what was wrong."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CopierWarning)
        yield
    seen: set[str] = set()
    for warning in caught:
        text = " ".join(str(warning.message).split())
        if issubclass(warning.category, CopierWarning) and text not in seen:
            seen.add(text)
            if out is not None:
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
