"""The question form in copier.yml, in process: each rule's message fits Copier's one-line
error in an 80-column terminal and names what is wrong, derived defaults read as English,
help speaks of what the user sees, and what gosvc lets a user set is what gets recorded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier import run_copy
from copier._main import Worker
from gosvc.errors import InputError
from gosvc.render import render_project
from jinja2 import FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment
from support import REPO_ROOT, SOURCE

# Every rule of every question, broken once (the cases test_bad_answers.py runs, and more).
BROKEN: list[dict[str, Any]] = [
    {"service_name": "Inventory"},
    {"service_name": "s" * 64},
    {"service_name": "inventory-"},
    {"service_name": "9lives"},
    {"service_name": ""},
    {"module_path": "inventory/service"},
    {"module_path": "example.com/inventory/v1"},
    {"module_path": "example.com/a b"},
    {"module_path": "Example.com/x"},
    {"module_path": "example.com//x"},
    {"module_path": "example.com/x/v02"},
    {"module_path": "example.com/.x"},
    {"module_path": "example.com/a@b"},
    {"module_path": "example..com/x"},
    {"context_name": "func"},
    {"context_name": "infrastructure"},
    {"context_name": "a" * 31},
    {"context_name": "9x"},
    {"aggregate_name": "Stock-Item"},
    {"aggregate_name": "application"},
    {"aggregate_plural": "Geese"},
    {"aggregate_plural": "geese-"},
    {"downstream_name": "Pricing_Service"},
    {"service_name": "pricing", "downstream_name": "pricing"},
    {"http_port": "eighty"},
    {"http_port": "0"},
    {"http_port": "8080.5"},
    {"admin_port": "70000"},
    {"http_port": "8080", "admin_port": "8080"},
    {"go_version": "1.24"},
    {"database": "mysql"},
    {"go_version": "latest"},
    {"description": "x" * 201},
    {"description": " "},
    {"description": "two\nlines"},
    {"example_domain": False, "pact": True},
    {"goproxy": "https://proxy.example.com direct"},
    {"goproxy": "proxy.example.com"},
    {"goprivate": 'example.com/"x"'},
    {"goprivate": "a,,b"},
    {"gonosumdb": "a b"},
    {"gosumdb": "sum.golang.org; rm -rf /"},
    {"ingress_namespace": "Ingress_Nginx"},
    {"monitoring_namespace": "monitoring-"},
    {"monitoring_namespace": "-monitoring"},
    {"collector_namespace": "o" * 64},
]


CONFIG: dict[str, Any] = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
# Copier's Jinja environment as far as the validators need it: its default extension for
# filters such as regex_search, and a loader rooted at the template, where the macros are.
JINJA = SandboxedEnvironment(
    loader=FileSystemLoader(REPO_ROOT),
    extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
)
# The answers a validator may compare with, when the case does not set them.
BASE_ANSWERS = {"service_name": "inventory-service", "http_port": 8080}


def form_refusal(data: dict[str, Any]) -> str:
    """The first validator's refusal of `data`, worded as Copier words it, rendered here
    (fast); test_form_refusal_is_what_copier_says proves the same words come from Copier."""
    answers = dict(BASE_ANSWERS)
    for name, value in data.items():
        answers[name] = yaml.safe_load(value) if CONFIG[name]["type"] == "yaml" else value
    for name in CONFIG:
        if name in data and "validator" in CONFIG[name]:
            message = JINJA.from_string(CONFIG[name]["validator"]).render(answers).strip()
            if message:
                return f"Validation error for question '{name}': {message}"
    raise AssertionError(f"no validator refused {data}")


def copier_refusal(data: dict[str, Any], tmp_path: Path) -> str:
    """The message Copier itself shows for `data`, as the interactive form prints it."""
    with pytest.raises(ValueError, match=r"^Validation error for question") as raised:
        pretend_copy(tmp_path, data)
    return str(raised.value)


def derived(tmp_path: Path, **data: Any) -> dict[str, Any]:
    """Every value of the form for `data`, defaults derived by Copier, nothing rendered."""
    return dict(pretend_copy(tmp_path, data).answers.combined)


def pretend_copy(tmp_path: Path, data: dict[str, Any]) -> Worker:
    """Copier's copy of this checkout with `data`, asking and validating, writing nothing."""
    return run_copy(
        str(REPO_ROOT),
        tmp_path / "project",
        data=data,
        vcs_ref="HEAD",
        defaults=True,
        pretend=True,
        quiet=True,
        skip_tasks=True,
        exclude=("*",),
    )


@pytest.mark.bad_answers
@pytest.mark.parametrize(
    "data",
    [{"http_port": "eighty"}, {"module_path": "example.com/a b"}, BROKEN[-1]],
    ids=["port", "module-path", "gosumdb"],
)
def test_form_refusal_is_what_copier_says(data: dict[str, Any], tmp_path: Path) -> None:
    assert form_refusal(data) == copier_refusal(data, tmp_path)


@pytest.mark.unit
@pytest.mark.parametrize(
    "data", BROKEN, ids=lambda data: "-".join(f"{k}={v}"[:24] for k, v in data.items())
)
def test_each_refusal_fits_an_80_column_terminal(data: dict[str, Any]) -> None:
    message = form_refusal(data)
    assert "\n" not in message
    assert len(message) <= 80, f"{len(message)} columns: {message}"
    # A rule, not Copier's nameless "Invalid input".
    assert message.split(": ", 1)[1] not in ("", "Invalid input")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("module_path", "named"),
    [
        ("example.com/a b", "spaces"),
        ("example.com/a@b", "'@'"),
        ("inventory/service", "'inventory'"),
        ("Example.com/x", "'Example.com'"),
        ("example.com/-x", "'-x'"),
        ("example.com/x/v1", "'/v1'"),
    ],
)
def test_module_path_refusal_names_the_offending_part(
    module_path: str, named: str, tmp_path: Path
) -> None:
    assert named in form_refusal({"module_path": module_path})


@pytest.mark.unit
def test_a_non_number_port_names_its_rule() -> None:
    message = form_refusal({"http_port": "eighty"})
    assert message.endswith("http_port': must be a whole number, 1-65535")


@pytest.mark.bad_answers
def test_ports_are_recorded_as_numbers(tmp_path: Path) -> None:
    values = derived(tmp_path, http_port="18080")
    assert values["http_port"] == 18080
    assert values["admin_port"] == 9090


@pytest.mark.bad_answers
def test_derived_description_is_a_sentence_about_the_service(tmp_path: Path) -> None:
    # It used to read "my-svc manages my over HTTP."
    values = derived(tmp_path, service_name="my-svc")
    assert values["description"] == "An HTTP service that manages items."
    skeleton = derived(tmp_path, service_name="x1", example_domain=False)
    assert skeleton["description"] == "An HTTP service in Go."


@pytest.mark.unit
def test_help_speaks_of_what_the_user_sees() -> None:
    questions = {name for name in CONFIG if not name.startswith("_")}
    for name, question in CONFIG.items():
        if name.startswith("_") or "help" not in question:
            continue
        # A Jinja expression is rendered into the user's answer before it is shown.
        shown = re.sub(r"{{.*?}}", "", question["help"])
        named = sorted(
            other
            for other in questions - {name}
            if "_" in other and re.search(rf"\b{other}\b", shown)
        )
        assert named == [], f"{name}'s help names internal variables {named}"
    assert "/v1/" in CONFIG["aggregate_plural"]["help"]


@pytest.mark.unit
def test_each_rule_is_written_once() -> None:
    """copier.yml's validators call the macros of includes/rules.jinja: no regex of its own."""
    for name, question in CONFIG.items():
        validator = question.get("validator", "") if isinstance(question, dict) else ""
        if validator:
            assert "includes/rules.jinja" in validator, name
            assert "regex" not in validator, f"{name} writes its own pattern"


# ------------------------------------------------ what -d may set, and what is recorded


@pytest.mark.bad_answers
def test_a_corrected_plural_is_recorded_for_the_next_update(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    rendered = render_project(
        SOURCE, dest, {"aggregate_name": "goose", "aggregate_plural": "geese"}, defaults=True
    )
    recorded = yaml.safe_load((dest / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert recorded["aggregate_plural"] == "geese"
    assert rendered.answers["aggregate_plural"] == "geese"
    assert "/v1/geese" in (dest / "api" / "openapi.yaml").read_text(encoding="utf-8")


@pytest.mark.bad_answers
@pytest.mark.parametrize(
    ("key", "value"),
    [("aggregate_type", "Gander"), ("private_modules", "true"), ("go_reserved_names", "[]")],
)
def test_computed_values_cannot_be_set(key: str, value: str, tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    with pytest.raises(InputError) as raised:
        render_project(SOURCE, dest, {key: value}, defaults=True)
    assert key in raised.value.message
    assert "\n" not in raised.value.message
    assert not dest.exists()


@pytest.mark.bad_answers
def test_the_reserved_names_hold_whatever_data_copier_is_given(tmp_path: Path) -> None:
    message = copier_refusal({"context_name": "func", "go_reserved_names": []}, tmp_path)
    assert "'func' is reserved" in message
