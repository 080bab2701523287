"""tools/pins.py, the maintainers' one command that re-tidies go.sum for every answer set
that changes dependencies: Go's go.sum order, the Jinja conditions it writes, and the
template's go.sum.jinja being tidy (and the tool's own output) for every combination."""

from __future__ import annotations

import importlib.util
import random
import subprocess
from pathlib import Path
from types import ModuleType

import jinja2
import pytest
import yaml
from gosvc.matrix import AnswerSet
from support import MATRIX, REPO_ROOT, RenderSet


def _load_pins() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pins", REPO_ROOT / "tools" / "pins.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PINS = _load_pins()

# Lines in the order Go's module.Sort (golang.org/x/mod) puts them, checked with it:
# paths byte-wise (upper case first), versions by semver (prereleases and pseudo-versions
# before the release, numbers by value), each module's h1 line before its /go.mod line.
GO_ORDER = [
    "github.com/Masterminds/semver/v3 v3.4.0 h1:a=",
    "github.com/Masterminds/semver/v3 v3.4.0/go.mod h1:b=",
    "github.com/davecgh/go-spew v1.1.0/go.mod h1:c=",
    "github.com/davecgh/go-spew v1.1.1 h1:d=",
    "github.com/davecgh/go-spew v1.1.1/go.mod h1:e=",
    "github.com/jackc/pgx/v5 v5.9.0/go.mod h1:f=",
    "github.com/jackc/pgx/v5 v5.13.0 h1:g=",
    "github.com/jackc/pgx/v5 v5.13.0/go.mod h1:h=",
    "github.com/pkg/errors v0.9.1+incompatible/go.mod h1:i=",
    "golang.org/x/sys v0.0.0-20220811171246-fbc7d0a398ab/go.mod h1:j=",
    "golang.org/x/sys v0.1.0-rc.1/go.mod h1:k=",
    "golang.org/x/sys v0.1.0-rc.2/go.mod h1:l=",
    "golang.org/x/sys v0.1.0-rc.10/go.mod h1:m=",
    "golang.org/x/sys v0.1.0/go.mod h1:n=",
    "golang.org/x/sys v0.47.0 h1:o=",
]


@pytest.mark.unit
def test_go_sum_lines_sort_in_gos_order() -> None:
    shuffled = GO_ORDER[:]
    random.Random(14).shuffle(shuffled)
    assert sorted(shuffled, key=PINS.go_sum_key) == GO_ORDER


ANSWERS = {"database": ("memory", "postgres"), "pact": (False, True)}


@pytest.mark.unit
@pytest.mark.parametrize(
    ("present", "expected"),
    [
        (lambda c: c["database"] == "postgres", "database == 'postgres'"),
        (lambda c: c["pact"], "pact"),
        (lambda c: not c["pact"], "not pact"),
        (lambda c: c["database"] == "postgres" and c["pact"], "database == 'postgres' and pact"),
        (lambda c: c["database"] == "postgres" or c["pact"], "database == 'postgres' or pact"),
        (
            lambda c: (c["database"] == "postgres") != c["pact"],
            "(database == 'memory' and pact) or (database == 'postgres' and not pact)",
        ),
    ],
)
def test_conditions_name_exactly_the_combinations_with_the_line(
    present: object, expected: str
) -> None:
    combos = PINS.combinations(ANSWERS)
    assert callable(present)
    indexes = frozenset(index for index, combo in enumerate(combos) if present(combo))
    assert PINS.condition(indexes, combos, ANSWERS) == expected


@pytest.mark.unit
def test_the_template_renders_each_combinations_own_go_sum() -> None:
    combos = PINS.combinations(ANSWERS)
    common = ["a.example/common v1.0.0 h1:x=", "z.example/last v1.0.0 h1:y="]
    sums = []
    for combo in combos:
        lines = list(common)
        if combo["database"] == "postgres":
            lines += ["github.com/jackc/pgx/v5 v5.13.0 h1:p=", "m.example/first v0.1.0 h1:f="]
        if combo["pact"]:
            lines += ["github.com/pact-foundation/pact-go/v2 v2.4.1 h1:q="]
        if combo["database"] == "postgres" and combo["pact"]:
            lines += ["0.example/only-both v1.0.0 h1:b="]  # sorts first: a block at the top
        sums.append(sorted(lines, key=PINS.go_sum_key))

    text = PINS.go_sum_template(sums, combos, ANSWERS)

    for combo, lines in zip(combos, sums, strict=True):
        assert PINS.render_go_sum(text, combo) == "".join(f"{line}\n" for line in lines), combo
    # Each line once, each block's condition once.
    assert text.count("github.com/jackc/pgx/v5") == 1
    assert text.count("{% if database == 'postgres' and pact -%}") == 1


def _question_defaults() -> dict[str, object]:
    """Each dependency answer's default; one derived from an earlier answer (a Jinja
    string, e.g. pact's "{{ example_domain }}") as that answer's default makes it."""
    questions = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    defaults: dict[str, object] = {}
    for name in PINS.DEPENDENCY_ANSWERS:
        default = questions[name].get("default")
        if isinstance(default, str) and "{{" in default:
            default = yaml.safe_load(jinja2.Template(default).render(**defaults))
        defaults[name] = default
    return defaults


@pytest.mark.unit
def test_the_matrix_covers_every_value_of_every_dependency_answer() -> None:
    defaults = _question_defaults()
    for name, values in PINS.DEPENDENCY_ANSWERS.items():
        # The tool renders the first value as the default combination.
        assert values[0] == defaults[name], f"{name}: first value must be copier.yml's default"
        used = {answer_set.answers.get(name, defaults[name]) for answer_set in MATRIX}
        assert used >= set(values), f"tests/matrix.yml never sets {name} to {set(values) - used}"


@pytest.mark.cli
def test_go_sum_is_tidy_and_written_by_the_tool_for_every_combination(
    rendered_set: RenderSet,
) -> None:
    combos = PINS.combinations()
    sums = []
    for combo in combos:
        name = "pins-" + "-".join(str(value).lower() for value in combo.values())
        project = rendered_set(AnswerSet(name=name, answers=combo))
        tidy = subprocess.run(
            ["go", "mod", "tidy", "-diff"],
            cwd=project.path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            check=False,
        )
        assert tidy.returncode == 0, f"{PINS.describe(combo)}: not tidy\n{tidy.stdout}{tidy.stderr}"
        go_sum = Path(project.path / "go.sum")
        sums.append(go_sum.read_text(encoding="utf-8").splitlines())
    # Tidy everywhere, and the file is the tool's output, not a hand edit.
    expected = PINS.go_sum_template(sums, combos)
    assert PINS.GO_SUM_TEMPLATE.read_text(encoding="utf-8") == expected
