"""Re-tidy the template's go.sum for every answer set that changes dependencies (for
template maintainers).

    .venv/bin/python tools/pins.py [--smoke]

A generated project's go.sum must be exactly what `go mod tidy` writes (the hook checks
`go mod tidy -diff`), and it differs between answer sets: a module used only by a feature
appears only when that feature is on. This renders every combination of the answers in
DEPENDENCY_ANSWERS (all other answers at their defaults), runs `go mod tidy` in each and
writes template/go.sum.jinja: every line of every tidy go.sum once, in Go's order, with a
Jinja condition around the lines that are not in all of them. It then renders that file
for each combination and checks it gives the tidy go.sum byte for byte.

go.mod.jinja stays hand-written (its conditional `require` lines are few and read better
written out): when `go mod tidy` changes a combination's go.mod, the tool prints the
difference and exits 1, after writing go.sum.jinja, so the fix is one edit of go.mod.jinja
and a second run. To bump or add a pin: edit go.mod.jinja's versions (take them from
`go get` in a rendered project), run this, then `make smoke` (or pass --smoke) to build
and test the matrix with the new pins.

It needs the venv (`make .venv/.installed`) for gosvc's render path and Go on PATH; it
downloads modules through the GOPROXY in force.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

REPO_ROOT = Path(__file__).resolve().parent.parent
GO_SUM_TEMPLATE = REPO_ROOT / "template" / "go.sum.jinja"

# The answers that change which modules a generated project needs, and every value each
# takes. This is the one list of them: add an answer here when a template change makes a
# module depend on it (tests/test_pins.py checks the matrix covers every value).
DEPENDENCY_ANSWERS: dict[str, tuple[Any, ...]] = {
    "example_domain": (True, False),
    "pact": (True, False),
    "database": ("memory", "postgres"),
}

# Combinations copier.yml's validators refuse, so no project has them: never rendered.
REFUSED: tuple[dict[str, Any], ...] = (
    {"example_domain": False, "pact": True},  # pact tests the example
)

Combination = dict[str, Any]

HEADER = (
    "{#- Written by tools/pins.py from `go mod tidy` of every combination of the answers in\n"
    "    its DEPENDENCY_ANSWERS: edit go.mod.jinja and re-run it, never edit this by hand. -#}\n"
)


def combinations(
    answers: Mapping[str, Sequence[Any]] = DEPENDENCY_ANSWERS,
    refused: Sequence[Mapping[str, Any]] = REFUSED,
) -> list[Combination]:
    """Every combination of the answers' values that the form accepts, the first values
    (the defaults) first."""
    names = list(answers)
    every = (
        dict(zip(names, values, strict=True)) for values in itertools.product(*answers.values())
    )
    return [
        combo
        for combo in every
        if not any(
            all(combo.get(name) == value for name, value in rule.items()) for rule in refused
        )
    ]


# ------------------------------------------------------------------ Go's go.sum order

_SEMVER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def _prerelease_key(prerelease: str | None) -> tuple[Any, ...]:
    # A release sorts after all its prereleases; numeric identifiers before alphanumeric
    # ones, numbers by value, words by ASCII, a shorter list first when it is a prefix.
    if prerelease is None:
        return (1,)
    parts = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in prerelease.split(".")
    )
    return (0, parts)


def _version_key(version: str) -> tuple[Any, ...]:
    match = _SEMVER.match(version)
    if match is None:  # Go sorts invalid versions first; a tidy go.sum has none
        return (0, version)
    major, minor, patch, prerelease = match.groups()
    return (1, int(major), int(minor), int(patch), _prerelease_key(prerelease))


def go_sum_key(line: str) -> tuple[Any, ...]:
    """The sort key of a go.sum line as Go's module.Sort orders them: module path (bytes),
    then the version by semver, then the file suffix (the /go.mod line after the module)."""
    path, version = line.split()[:2]
    version, slash, file = version.partition("/")
    return (path.encode(), _version_key(version), slash + file)


# ------------------------------------------------------------------ conditions

Literal = tuple[str, Any]


def _literal_text(literal: Literal) -> str:
    name, value = literal
    if value is True:
        return name
    if value is False:
        return f"not {name}"
    return f"{name} == {value!r}"


def _term_text(term: tuple[Literal, ...], *, alone: bool) -> str:
    text = " and ".join(_literal_text(literal) for literal in term)
    return text if alone or len(term) == 1 else f"({text})"


def condition(
    present: frozenset[int], combos: Sequence[Combination], answers: Mapping[str, Sequence[Any]]
) -> str:
    """A short Jinja expression true for exactly the combinations numbered in `present`:
    terms (conjunctions of `answer == value`) whose combinations all have the line, fewest
    literals first, joined with `or` until they cover every such combination."""
    names = list(answers)
    terms: list[tuple[tuple[Literal, ...], frozenset[int]]] = []
    for size in range(1, len(names) + 1):
        for chosen in itertools.combinations(names, size):
            for values in itertools.product(*(answers[name] for name in chosen)):
                term = tuple(zip(chosen, values, strict=True))
                covers = frozenset(
                    index
                    for index, combo in enumerate(combos)
                    if all(combo[name] == value for name, value in term)
                )
                if covers and covers <= present:
                    terms.append((term, covers))
    chosen_terms: list[tuple[Literal, ...]] = []
    left = set(present)
    while left:
        # The term covering most of what is left; the first (fewest literals) on a tie.
        term, covers = max(terms, key=lambda item: len(item[1] & left))
        chosen_terms.append(term)
        left -= covers
    alone = len(chosen_terms) == 1
    return " or ".join(_term_text(term, alone=alone) for term in chosen_terms)


def go_sum_template(
    sums: Sequence[Iterable[str]],
    combos: Sequence[Combination],
    answers: Mapping[str, Sequence[Any]] = DEPENDENCY_ANSWERS,
) -> str:
    """go.sum.jinja from the tidy go.sum lines of each combination (same order)."""
    where: dict[str, set[int]] = {}
    for index, lines in enumerate(sums):
        for line in lines:
            where.setdefault(line, set()).add(index)
    everywhere = frozenset(range(len(combos)))
    out = [HEADER]
    open_condition: str | None = None
    for line in sorted(where, key=go_sum_key):
        present = frozenset(where[line])
        wanted = None if present == everywhere else condition(present, combos, answers)
        if wanted != open_condition:
            # `-%}` eats the newline after each tag, so a block adds only its own lines.
            if open_condition is not None:
                out.append("{% endif -%}\n")
            if wanted is not None:
                out.append(f"{{% if {wanted} -%}}\n")
            open_condition = wanted
        out.append(line + "\n")
    if open_condition is not None:
        out.append("{% endif -%}\n")
    return "".join(out)


def render_go_sum(template_text: str, combo: Combination) -> str:
    """go.sum.jinja rendered for one combination, with Copier's Jinja settings that matter
    here (its default delimiters, a kept final newline)."""
    environment = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return environment.from_string(template_text).render(**combo)


# ------------------------------------------------------------------ running Go


def _go(project: Path, *args: str) -> None:
    env = dict(os.environ)
    completed = subprocess.run(
        ["go", *args],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"go {' '.join(args)} failed in {project}:\n{completed.stderr.strip()}")


def tidy(combo: Combination, workdir: Path) -> tuple[list[str], str, str]:
    """Render the combination, run `go mod tidy`: (its go.sum lines, go.mod before and after)."""
    from gosvc.render import render_project
    from gosvc.template import TemplateSource

    dest = workdir / "-".join(f"{name}-{value}".lower() for name, value in combo.items())
    render_project(TemplateSource(str(REPO_ROOT), "HEAD"), dest, combo, defaults=True)
    go_mod = dest / "go.mod"
    before = go_mod.read_text(encoding="utf-8")
    _go(dest, "mod", "tidy")
    go_sum = dest / "go.sum"
    lines = go_sum.read_text(encoding="utf-8").splitlines() if go_sum.exists() else []
    return lines, before, go_mod.read_text(encoding="utf-8")


def describe(combo: Combination) -> str:
    return " ".join(
        f"{name}={str(value).lower() if isinstance(value, bool) else value}"
        for name, value in combo.items()
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--smoke", action="store_true", help="then build and test the matrix (gosvc smoke --race)"
    )
    args = parser.parse_args(argv)
    combos = combinations()
    sums: list[list[str]] = []
    untidy_go_mod: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gosvc-pins-") as workdir:
        for combo in combos:
            print(f"==> go mod tidy: {describe(combo)}", flush=True)
            lines, before, after = tidy(combo, Path(workdir))
            sums.append(lines)
            if before != after:
                diff = difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    "go.mod (rendered)",
                    "go.mod (tidy)",
                )
                untidy_go_mod.append(f"{describe(combo)}:\n{''.join(diff)}")
    text = go_sum_template(sums, combos)
    for combo, lines in zip(combos, sums, strict=True):
        rendered = render_go_sum(text, combo)
        expected = "".join(line + "\n" for line in lines)
        if rendered != expected:  # a defect of this tool, never of the template
            raise SystemExit(f"go.sum.jinja does not render the tidy go.sum for {describe(combo)}")
    changed = not GO_SUM_TEMPLATE.exists() or GO_SUM_TEMPLATE.read_text(encoding="utf-8") != text
    GO_SUM_TEMPLATE.write_text(text, encoding="utf-8")
    conditional = sum(1 for line in text.splitlines() if line.startswith("{% if"))
    print(
        f"{'wrote' if changed else 'unchanged:'} {GO_SUM_TEMPLATE.relative_to(REPO_ROOT)}"
        f" ({len(combos)} combinations, {conditional} conditional blocks)"
    )
    if untidy_go_mod:
        print("\ngo mod tidy changed go.mod: edit template/go.mod.jinja to match, then re-run.")
        print("\n".join(untidy_go_mod))
        return 1
    if args.smoke:
        gosvc = Path(sys.executable).parent / "gosvc"
        return subprocess.run(
            [str(gosvc), "smoke", "--race"], cwd=REPO_ROOT, check=False
        ).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
