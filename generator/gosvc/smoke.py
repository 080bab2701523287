"""`gosvc smoke`: render every answer set, run the project checks on each, print a table."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from gosvc.checks import run_checks
from gosvc.errors import InputError, RenderError
from gosvc.matrix import AnswerSet
from gosvc.render import render_project
from gosvc.template import TemplateSource

_ANSWERS_WIDTH = 60


@dataclass(frozen=True)
class SmokeRow:
    answer_set: AnswerSet
    ok: bool
    result: str
    seconds: float


def smoke(
    source: TemplateSource,
    sets: Sequence[AnswerSet],
    *,
    keep: bool,
    race: bool,
    out: TextIO,
) -> list[SmokeRow]:
    """Render and check each set in its own temporary folder; one row per set."""
    workdir = Path(tempfile.mkdtemp(prefix="gosvc-smoke-"))
    rows: list[SmokeRow] = []
    try:
        for number, answer_set in enumerate(sets, start=1):
            print(f"[{number}/{len(sets)}] {answer_set.name}: {answer_set.describe()}", file=out)
            rows.append(_smoke_one(source, answer_set, workdir / answer_set.name, race, out))
    finally:
        if keep:
            print(f"Rendered projects kept in {workdir}", file=out)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows, out)
    return rows


def _smoke_one(
    source: TemplateSource, answer_set: AnswerSet, dest: Path, race: bool, out: TextIO
) -> SmokeRow:
    started = time.monotonic()
    try:
        rendered = render_project(source, dest, answer_set.answers, defaults=True, notes=out)
    except (InputError, RenderError) as error:
        print(f"  render failed: {error}", file=out)
        return SmokeRow(answer_set, False, f"render failed: {error}", time.monotonic() - started)
    print(f"  rendered in {rendered.seconds:.1f}s", file=out)
    report = run_checks(dest, race=race, out=out, indent="  ")
    seconds = time.monotonic() - started
    if report.ok:
        return SmokeRow(answer_set, True, "ok", seconds)
    failed = next(result.step.name for result in report.results if not result.ok)
    return SmokeRow(answer_set, False, f"FAILED: {failed}", seconds)


def print_table(rows: Sequence[SmokeRow], out: TextIO) -> None:
    table = [("set", "answers", "result", "seconds")] + [
        (
            row.answer_set.name,
            _clip(row.answer_set.describe(), _ANSWERS_WIDTH),
            _clip(row.result, _ANSWERS_WIDTH),
            f"{row.seconds:.1f}",
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(4)]
    print(file=out)
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line[:3], widths[:3], strict=True)]
        print("  ".join([*cells, line[3].rjust(widths[3])]), file=out)
    failed = sum(not row.ok for row in rows)
    summary = f"{failed} of {len(rows)} answer sets failed" if failed else "every answer set passed"
    print(f"\n{summary}", file=out)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
