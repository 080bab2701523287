"""Layer 4, bad answers: each rule in copier.yml refuses a bad value, in `copier copy` (a
non-zero exit whose message names the question) and in `gosvc new` (exit 2, one line on
stderr naming the question and the rule, no traceback). Neither writes anything.

Every rule is tried in process, through Copier's `run_copy` and gosvc's `main` (a copier
or gosvc start-up costs more than the refusal); two cases also run the two commands as a
user does, in a subprocess, to hold their exit codes and output to the same promises."""

from __future__ import annotations

from pathlib import Path

import pytest
from copier import run_copy
from gosvc.cli import main as gosvc_main
from support import REPO_ROOT, copier, gosvc

pytestmark = pytest.mark.bad_answers
# (question the message must name, answers given, a fragment of the rule's message)
BAD_ANSWERS = [
    ("service_name", {"service_name": "Inventory"}, "'I': use only a-z 0-9 -"),
    ("service_name", {"service_name": "s" * 64}, "must be 1-63 characters"),
    ("service_name", {"service_name": "inventory-"}, "must end with a-z or 0-9"),
    ("module_path", {"module_path": "inventory/service"}, "'inventory' needs a dot"),
    ("module_path", {"module_path": "example.com/inventory/v1"}, "'/v1': use /v2 or up"),
    ("module_path", {"module_path": "example.com/inventory service"}, "must not contain spaces"),
    ("context_name", {"context_name": "func"}, "'func' is reserved"),
    ("context_name", {"context_name": "http"}, "'http' is reserved"),
    ("aggregate_name", {"aggregate_name": "Stock-Item"}, "'S': use only a-z 0-9"),
    ("aggregate_plural", {"aggregate_plural": "Geese"}, "'G': use only a-z 0-9 -"),
    ("description", {"description": "x" * 201}, "must be at most 200 characters"),
    ("admin_port", {"http_port": "8080", "admin_port": "8080"}, "must differ from http_port"),
    ("http_port", {"http_port": "0"}, "between 1 and 65535"),
    # Copier itself says only "Invalid input" for a failed int(); the rule must be named.
    ("http_port", {"http_port": "eighty"}, "must be a whole number, 1-65535"),
    ("admin_port", {"admin_port": "70000"}, "between 1 and 65535"),
    ("go_version", {"go_version": "1.24"}, "must be 1.25 or later"),
    ("go_version", {"go_version": "latest"}, "1.25 or later"),
    ("downstream_name", {"downstream_name": "Pricing_Service"}, "'P': use only"),
    ("downstream_name", {"service_name": "pricing", "downstream_name": "pricing"}, "differ"),
    ("goproxy", {"goproxy": "https://proxy.example.com direct"}, "must not contain spaces"),
    ("goproxy", {"goproxy": "proxy.example.com"}, "each item must be a URL, direct or off"),
    ("goprivate", {"goprivate": 'example.com/"x"'}, "not allowed in a path pattern"),
    ("gonosumdb", {"gonosumdb": "a b"}, "must not contain spaces"),
    ("gosumdb", {"gosumdb": "sum.golang.org; rm -rf /"}, "'name+key [URL]'"),
    ("ingress_namespace", {"ingress_namespace": "Ingress_Nginx"}, "'I': use only a-z 0-9 -"),
    ("monitoring_namespace", {"monitoring_namespace": "monitoring-"}, "must end with a-z"),
    ("collector_namespace", {"collector_namespace": "o" * 64}, "must be 1-63 characters"),
]
IDS = [f"{question}={next(iter(answers.values()))[:20]}" for question, answers, _ in BAD_ANSWERS]


# The cases also run as subprocesses: one refused by a pattern, one by a range.
SUBPROCESS_QUESTIONS = ("service_name", "http_port")
SUBPROCESS_CASES = [
    next(case for case in BAD_ANSWERS if case[0] == question) for question in SUBPROCESS_QUESTIONS
]
SUBPROCESS_IDS = [IDS[BAD_ANSWERS.index(case)] for case in SUBPROCESS_CASES]


def data_args(answers: dict[str, str]) -> list[str]:
    return [arg for key, value in answers.items() for arg in ("-d", f"{key}={value}")]


def gosvc_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """gosvc's main as the console script calls it: exit code, stdout, stderr."""
    capsys.readouterr()
    code = gosvc_main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_copier_refused(message: str, question: str, rule: str, dest: Path) -> None:
    assert f"question '{question}'" in message
    assert rule in message
    assert not dest.exists()


def assert_gosvc_refused(
    code: int, out: str, err: str, question: str, rule: str, dest: Path
) -> None:
    assert code == 2, out + err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"gosvc new: {question}")
    assert rule in lines[0]
    assert "Traceback" not in out + err
    assert not dest.exists()


@pytest.mark.parametrize(("question", "answers", "rule"), BAD_ANSWERS, ids=IDS)
def test_copier_copy_refuses(
    question: str, answers: dict[str, str], rule: str, tmp_path: Path
) -> None:
    """Copier's API with the answers as `-d` gives them (strings), as `copier copy`."""
    dest = tmp_path / "service"
    with pytest.raises(ValueError, match="Validation error") as refused:
        run_copy(
            str(REPO_ROOT),
            dest,
            data=dict(answers),
            vcs_ref="HEAD",
            defaults=True,
            unsafe=True,
            quiet=True,
        )
    assert_copier_refused(str(refused.value), question, rule, dest)


@pytest.mark.parametrize(("question", "answers", "rule"), SUBPROCESS_CASES, ids=SUBPROCESS_IDS)
def test_copier_copy_command_refuses(
    question: str, answers: dict[str, str], rule: str, tmp_path: Path
) -> None:
    dest = tmp_path / "service"
    args = ["copy", "--trust", "--defaults", "--vcs-ref", "HEAD", *data_args(answers)]
    result = copier(*args, str(REPO_ROOT), str(dest))
    assert result.returncode != 0
    # Copier shows a traceback here; its last line is the validator's message.
    assert_copier_refused(result.stderr.strip().splitlines()[-1], question, rule, dest)


@pytest.mark.parametrize(("question", "answers", "rule"), BAD_ANSWERS, ids=IDS)
def test_gosvc_new_refuses_with_one_line(
    question: str,
    answers: dict[str, str],
    rule: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dest = tmp_path / "service"
    code, out, err = gosvc_in_process(capsys, "new", str(dest), "--defaults", *data_args(answers))
    assert_gosvc_refused(code, out, err, question, rule, dest)


@pytest.mark.parametrize(("question", "answers", "rule"), SUBPROCESS_CASES, ids=SUBPROCESS_IDS)
def test_gosvc_new_command_refuses_with_one_line(
    question: str, answers: dict[str, str], rule: str, tmp_path: Path
) -> None:
    dest = tmp_path / "service"
    result = gosvc("new", str(dest), "--defaults", *data_args(answers))
    assert_gosvc_refused(result.returncode, result.stdout, result.stderr, question, rule, dest)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["-d", "http_port=eighty"], "http_port must be a whole number"),
        (["-d", "example_domain=perhaps"], "example_domain must be true or false"),
        (["-d", "colour=blue"], "unknown question colour"),
        (["-d", "service_name"], "expected key=value"),
    ],
    ids=["not-an-int", "not-a-bool", "unknown-key", "no-equals"],
)
def test_gosvc_new_refuses_malformed_data(
    args: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "service"
    code, _, err = gosvc_in_process(capsys, "new", str(dest), "--defaults", *args)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert fragment in lines[0]
    assert not dest.exists()


def test_gosvc_new_leaves_an_existing_empty_folder_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "service"
    dest.mkdir()
    code, _, _ = gosvc_in_process(capsys, "new", str(dest), "--defaults", "-d", "go_version=1.24")
    assert code == 2
    assert list(dest.iterdir()) == []


def test_gosvc_new_refuses_a_non_empty_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keep.txt").write_text("mine\n")
    code, _, err = gosvc_in_process(capsys, "new", str(tmp_path), "--defaults")
    assert code == 2
    assert "not an empty folder" in err
    assert [path.name for path in tmp_path.iterdir()] == ["keep.txt"]


def test_gosvc_new_names_a_refused_default_and_how_to_override_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A default derived from other answers is validated too; the message says how to set it."""
    template = tmp_path / "template"
    (template / "files").mkdir(parents=True)
    (template / "copier.yml").write_text(
        "_subdirectory: files\n"
        "name:\n  type: str\n  default: demo\n"
        "package:\n  type: str\n"
        '  default: "{{ name }}-pkg"\n'
        "  validator: \"{% if '-' in package %}package must not contain '-'{% endif %}\"\n"
    )
    (template / "files" / "README.md.jinja").write_text("{{ package }}\n")
    dest = tmp_path / "out"

    code, _, err = gosvc_in_process(
        capsys, "new", str(dest), "--defaults", "--template", str(template)
    )

    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "package must not contain '-'" in lines[0]
    assert "set it with -d package=" in lines[0]
    assert not dest.exists()
    # Copier refuses it too, with a ValueError (its CLI shows the traceback).
    with pytest.raises(ValueError, match="package must not contain '-'"):
        run_copy(str(template), dest, defaults=True, quiet=True)
    assert not dest.exists()
