"""Unit layer: gosvc's pure Python input handling, with no Copier render and no Go.

`-d` answers parsing and typing, the matrix file loader, InputError's one-line messages,
the template source resolution and the mapping of Copier's exceptions to InputError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from copier.errors import CopierAnswersInterrupt, CopierError, UserMessageError
from gosvc.answers import parse_data_items, typed_answers
from gosvc.errors import InputError
from gosvc.matrix import AnswerSet, load_matrix, select
from gosvc.render import as_input_errors
from gosvc.template import TemplateSource, bundled_template_root, resolve
from support import MATRIX_FILE, REPO_ROOT

pytestmark = pytest.mark.unit

QUESTIONS: dict[str, dict[str, Any]] = {
    "service_name": {"type": "str"},
    "http_port": {"type": "int"},
    "ratio": {"type": "float"},
    "example_domain": {"type": "bool"},
    "aggregate_plural": {"type": "str", "when": False},
}


# ------------------------------------------------------------------ answers


def test_data_items_split_at_the_first_equals_and_the_last_item_wins() -> None:
    items = ["service_name=a", "module_path=x.org/a=b", " service_name =orders", "empty="]
    assert parse_data_items(items) == {
        "service_name": "orders",
        "module_path": "x.org/a=b",
        "empty": "",
    }


@pytest.mark.parametrize("item", ["service_name", "=orders", " =x"])
def test_data_item_without_a_key_is_refused(item: str) -> None:
    with pytest.raises(InputError, match="expected key=value"):
        parse_data_items([item])


def test_answers_are_typed_by_their_questions() -> None:
    data = {"service_name": "orders", "http_port": " 8081 ", "ratio": "0.5"}
    typed = typed_answers({**data, "example_domain": "No"}, QUESTIONS)
    assert typed == {
        "service_name": "orders",
        "http_port": 8081,
        "ratio": 0.5,
        "example_domain": False,
    }
    assert typed_answers({"example_domain": "on"}, QUESTIONS) == {"example_domain": True}


def test_values_already_typed_in_a_matrix_file_are_kept() -> None:
    assert typed_answers({"http_port": 18080, "example_domain": False}, QUESTIONS) == {
        "http_port": 18080,
        "example_domain": False,
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"http_port": "eighty"}, "http_port must be a whole number, got 'eighty'"),
        ({"ratio": "half"}, "ratio must be a number, got 'half'"),
        ({"example_domain": "perhaps"}, "example_domain must be true or false"),
    ],
)
def test_a_value_of_the_wrong_type_names_its_question(data: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as refused:
        typed_answers(data, QUESTIONS)
    assert refused.value.message.startswith(message)


def test_unknown_questions_are_refused_listing_only_the_asked_ones() -> None:
    with pytest.raises(InputError) as refused:
        typed_answers({"colour": "blue", "answer": "42"}, QUESTIONS)
    message = refused.value.message
    assert message.startswith("unknown question answer, colour; the questions are: ")
    assert "service_name, http_port, ratio, example_domain" in message
    assert "aggregate_plural" not in message


def test_input_error_is_one_line() -> None:
    error = InputError("first line\n   second\tline  ")
    assert error.message == "first line second line"
    assert str(error) == error.message


# ------------------------------------------------------------------- matrix


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_tests_matrix_loads_with_a_defaults_set() -> None:
    sets = load_matrix(MATRIX_FILE)
    assert sets[0] == AnswerSet("defaults", {})
    assert len({answer_set.name for answer_set in sets}) == len(sets) > 1


def test_answer_set_describes_its_answers_as_typed_after_d() -> None:
    assert AnswerSet("defaults").describe() == "(defaults)"
    answer_set = AnswerSet("x", {"service_name": "a", "example_domain": False, "http_port": 1})
    assert answer_set.describe() == "service_name=a example_domain=false http_port=1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sets: [\n", "is not valid YAML"),
        ("- name: a\n", "expected a mapping with a list under 'sets'"),
        ("sets:\n  - answers: {}\n", "set 1: expected a mapping with a 'name'"),
        ("sets:\n  - name: Bad_Name\n", "set 1: name 'Bad_Name' must be lowercase"),
        ("sets:\n  - name: a\n    answers: [x]\n", "set 1 (a): 'answers' must be a mapping"),
        ("sets:\n  - name: a\n  - name: a\n", "set 2: name 'a' is used twice"),
        ("sets: []\n", "no answer sets under 'sets'"),
    ],
    ids=["yaml", "no-sets", "no-name", "bad-name", "answers-list", "twice", "empty"],
)
def test_a_bad_matrix_file_is_one_line_naming_the_set(
    text: str, message: str, tmp_path: Path
) -> None:
    path = write(tmp_path / "matrix.yml", text)
    with pytest.raises(InputError) as refused:
        load_matrix(path)
    assert refused.value.message.startswith(f"{path}") or "cannot read" in refused.value.message
    assert message in refused.value.message
    assert "\n" not in refused.value.message


def test_a_missing_matrix_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read matrix file"):
        load_matrix(tmp_path / "missing.yml")


def test_select_filters_by_name_and_lists_the_sets_when_nothing_matches() -> None:
    sets = [AnswerSet("defaults"), AnswerSet("module-v2"), AnswerSet("go-1-26")]
    assert select(sets, None) == sets
    assert select(sets, "-") == sets[1:]
    with pytest.raises(InputError, match="the sets are: defaults, module-v2, go-1-26"):
        select(sets, "nothing")


# ----------------------------------------------------------------- template


def test_the_bundled_template_is_this_checkout_at_head() -> None:
    assert bundled_template_root() == REPO_ROOT
    assert resolve(None, None) == TemplateSource(str(REPO_ROOT), "HEAD")
    assert resolve(None, "v0.1.0") == TemplateSource(str(REPO_ROOT), "v0.1.0")


@pytest.mark.parametrize(
    "remote", ["https://example.com/t.git", "gh:acme/template", "git@example.com:a/t.git"]
)
def test_a_remote_template_keeps_copiers_default_ref(remote: str) -> None:
    assert resolve(remote, None) == TemplateSource(remote, None)


def test_a_local_template_must_exist(tmp_path: Path) -> None:
    assert resolve(str(tmp_path), "HEAD") == TemplateSource(str(tmp_path), "HEAD")
    with pytest.raises(InputError, match="no such folder"):
        resolve(str(tmp_path / "missing"), None)


# ------------------------------------------------- Copier's errors as input


SOURCE = TemplateSource("https://example.com/template.git", None)


def refused(error: BaseException, provided: set[str] | None = None) -> str:
    with pytest.raises(InputError) as caught, as_input_errors(SOURCE, provided or set()):
        raise error
    return caught.value.message


def test_a_validation_error_names_the_question_once() -> None:
    error = ValueError("Validation error for question 'http_port': must be\n between 1 and 9")
    # A rule that starts with "must" reads on from the question's name.
    assert refused(error, {"http_port"}) == "http_port must be between 1 and 9"
    other = ValueError("Validation error for question 'http_port': '8o' is not a port")
    assert refused(other, {"http_port"}) == "http_port: '8o' is not a port"
    own_name = ValueError("Validation error for question 'http_port': http_port is bad")
    assert refused(own_name, {"http_port"}) == "http_port is bad"


def test_a_refused_default_says_how_to_set_it() -> None:
    error = ValueError("Validation error for question 'context_name': context_name is bad")
    assert refused(error) == (
        "context_name is bad (the default derived from your other answers; set it with "
        "-d context_name=...)"
    )


def test_copiers_other_errors_become_one_line() -> None:
    assert refused(UserMessageError("Template requires a newer Copier")) == (
        "Template requires a newer Copier"
    )
    assert refused(CopierError()) == "CopierError"
    missing = FileNotFoundError(2, "No such file or directory", "/tmp/x")
    assert refused(missing) == "/tmp/x: No such file or directory"
    clone_failed = OSError("git clone failed\nfatal: repository not found")
    assert refused(clone_failed) == (
        f"cannot use template {SOURCE.src}: fatal: repository not found"
    )


def test_an_interrupted_form_is_an_interrupt() -> None:
    with pytest.raises(KeyboardInterrupt), as_input_errors(SOURCE, set()):
        raise CopierAnswersInterrupt({}, None, None)  # type: ignore[arg-type]
