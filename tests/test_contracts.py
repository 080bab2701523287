"""Layer 4, real components: Pact contract tests of generated services, with the real
libpact_ffi (from the npm registry, tests/pact_tools.py) and pact-go, run with the
generated Makefile's targets, the commands the generated CI runs.

The default service's consumer test of its downstream client writes a pact; a second
generated service, named like that downstream and serving the same aggregate, verifies it
as the provider (its own `make pact-verify`, its real wiring on a loopback port, provider
states through its application layer): the contract one generated service writes is one
another honours. The default service also verifies the consumer pact it ships. Breaking
either side on purpose (a renamed JSON field in a copy of the provider, a changed
expectation in a copy of the consumer) fails, with a message that says what broke.

A Pact Broker cannot run here (it is a Ruby application: no gem registry is reachable, and
no Docker): the broker's side of the workflow (publish, pacts for verification with
selectors, can-i-deploy, record-deployment) is covered by the Makefile targets' refusals
and the workflow tests below, not by a fake broker.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from gosvc.matrix import AnswerSet
from pact_tools import libpact_ffi_dir, pact_cli, pact_env
from support import DEFAULTS, MATRIX, CopySet, Project, RenderSet, copy_project, run_tool

# The provider of the default service's pact: a service generated with the downstream's
# name and the consumer's aggregate, so it serves the collection the consumer calls.
PROVIDER = AnswerSet(
    "pact-provider",
    {"service_name": "pricing", "context_name": "inventory", "aggregate_name": "stock"},
)
PACT_OFF = next(answer_set for answer_set in MATRIX if answer_set.answers.get("pact") is False)


def make(project: Project, *args: str, **env: str) -> tuple[int, str]:
    """`make <args>` in the project with a contract test environment: (exit code, output)."""
    result = run_tool(["make", *args], cwd=project.path, env=pact_env(**env), timeout=1200)
    return result.returncode, result.stdout + result.stderr


def lib_dir_argument(project: Project) -> str:
    return f"PACT_LIB_DIR={libpact_ffi_dir(project)}"


def load_pact(path: Path) -> dict[str, Any]:
    pact: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return pact


# ---------------------------------------------------------------- the consumer


@pytest.fixture(scope="module")
def consumer(project_copy: CopySet, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A copy of the default render in which `make pact-consumer` ran and passed."""
    project = project_copy(DEFAULTS, tmp_path_factory.mktemp("consumer") / "project")
    code, output = make(project, "pact-consumer", lib_dir_argument(project))
    assert code == 0, output
    assert "--- PASS: TestDownstreamClient" in output, output
    return project


def consumer_pact(project: Project) -> Path:
    values = project.values
    return (
        project.path
        / "contracts"
        / "pacts"
        / (f"{values['service_name']}-{values['downstream_name']}.json")
    )


@pytest.mark.components
def test_the_consumer_test_writes_the_interactions_the_client_uses(consumer: Project) -> None:
    path = consumer_pact(consumer)
    assert path.is_file(), sorted(p.name for p in path.parent.iterdir())
    pact = load_pact(path)
    assert pact["consumer"]["name"] == "inventory-service"
    assert pact["provider"]["name"] == "pricing"
    assert pact["metadata"]["pactSpecification"]["version"] == "4.0"

    by_status = {i["response"]["status"]: i for i in pact["interactions"]}
    assert sorted(by_status) == [200, 400, 404], pact["interactions"]
    for interaction in by_status.values():
        request = interaction["request"]
        assert request["method"] == "GET"
        assert re.fullmatch(r"/v1/stocks/[^/]+", request["path"]), request
        assert request["headers"] == {"Accept": ["application/json"]}
        # The provider's Content-Type may carry parameters: matched by a regex.
        [content_type] = interaction["response"]["matchingRules"]["header"]["Content-Type"][
            "matchers"
        ]
        assert content_type["match"] == "regex", content_type

    record = by_status[200]
    assert record["providerStates"] == [
        {"name": "a stock exists", "params": {"id": "sku-1", "quantity": 4}}
    ]
    # Only what the client reads, matched by type: the provider's own values may differ.
    assert record["response"]["body"]["content"] == {"available": 4}
    assert record["response"]["matchingRules"]["body"]["$.available"]["matchers"] == [
        {"match": "integer"}
    ]
    assert by_status[404]["providerStates"] == [
        {"name": "no stock exists", "params": {"id": "sku-2"}}
    ]
    # The error case the fallback handles: a refusal, with a problem body matched by type.
    refused = by_status[400]
    assert refused["request"]["path"] == "/v1/stocks/not~valid"
    assert "providerStates" not in refused
    rules = refused["response"]["matchingRules"]["body"]
    assert rules["$.status"]["matchers"] == [{"match": "integer"}]
    assert rules["$.detail"]["matchers"] == [{"match": "type"}]


@pytest.mark.components
def test_a_changed_consumer_expectation_fails_the_consumer_test(
    project_copy: CopySet, tmp_path: Path
) -> None:
    project = project_copy(DEFAULTS, tmp_path / "project")
    test_file = project.path / "contracts" / "pricing_consumer_test.go"
    text = test_file.read_text(encoding="utf-8")
    expectation = 'matchers.Map{"available": matchers.Integer(4)}'
    assert expectation in text
    # The provider is now expected to name the field differently: the client, which reads
    # "available", no longer gets its number from the mock server's answer.
    test_file.write_text(
        text.replace(expectation, 'matchers.Map{"units": matchers.Integer(4)}'), encoding="utf-8"
    )
    code, output = make(project, "pact-consumer", lib_dir_argument(project))
    assert code != 0, output
    assert "--- FAIL: TestDownstreamClient/a_record" in output, output
    assert 'the answer has no \\"available\\" number' in output or (
        'the answer has no "available" number' in output
    ), output
    # pact-go writes each interaction that passed; the failed one is not in the pact (and
    # CI never publishes after a failed `make pact-consumer`: the job stops there).
    written = load_pact(consumer_pact(project))
    assert sorted(i["response"]["status"] for i in written["interactions"]) == [400, 404]


# ---------------------------------------------------------------- the providers


@pytest.fixture(scope="module")
def provider(rendered_set: RenderSet) -> Project:
    project = rendered_set(PROVIDER)
    assert project.service_name == "pricing" and project.values["aggregate_plural"] == "stocks"
    return project


def verification_summary(output: str) -> str:
    """The verifier's report, from its first 'Verifying a pact' line."""
    start = output.find("Verifying a pact between")
    assert start >= 0, output
    return output[start:]


@pytest.mark.components
def test_a_generated_provider_honours_the_pact_the_consumer_wrote(
    consumer: Project, provider: Project, tmp_path: Path
) -> None:
    project = copy_project(provider, tmp_path / "provider")
    pact = consumer_pact(consumer)
    code, output = make(project, "pact-verify", lib_dir_argument(project), f"PACT_FILES={pact}")
    assert code == 0, output
    summary = verification_summary(output)
    assert summary.startswith("Verifying a pact between inventory-service and pricing"), summary
    for interaction in load_pact(pact)["interactions"]:
        assert interaction["description"] in summary
    assert summary.count("has status code") == 3 and "FAILED" not in summary, summary
    assert "--- PASS: TestProviderHonoursConsumerPacts" in output
    # Every named state was set up (through the application layer), none skipped; pact-go
    # also asks about the empty state of the interaction that has none.
    assert not re.search(r"no state handler found for state: \S", output), output


@pytest.mark.components
def test_a_renamed_json_field_fails_verification_naming_it(
    consumer: Project, provider: Project, tmp_path: Path
) -> None:
    project = copy_project(provider, tmp_path / "provider")
    dto = project.context_dir / "adapter" / "http" / "dto.go"
    text = dto.read_text(encoding="utf-8")
    field = 'Available int    `json:"available"`'
    assert field in text
    dto.write_text(text.replace(field, 'Available int    `json:"units_available"`'), "utf-8")

    code, output = make(
        project, "pact-verify", lib_dir_argument(project), f"PACT_FILES={consumer_pact(consumer)}"
    )
    assert code != 0, output
    summary = verification_summary(output)
    failures = summary[summary.index("Failures:") :]
    # The one interaction that reads the record fails, and the message names the field.
    assert "a request for the availability of stock sku-1" in failures, failures
    assert "Actual map is missing the following keys: available" in failures, failures
    assert "--- FAIL: TestProviderHonoursConsumerPacts" in output


@pytest.mark.components
def test_the_service_verifies_the_consumer_pact_it_ships_and_only_that(
    consumer: Project,
) -> None:
    # In the consumer's own copy, where contracts/pacts also holds the pact it wrote as a
    # consumer: verification takes only the pacts naming this service as the provider.
    code, output = make(consumer, "pact-verify", lib_dir_argument(consumer))
    assert code == 0, output
    summary = verification_summary(output)
    assert summary.startswith("Verifying a pact between storefront and inventory-service")
    assert "between inventory-service and pricing" not in summary
    shipped = load_pact(consumer.path / "contracts" / "pacts" / "storefront-inventory-service.json")
    descriptions = [interaction["description"] for interaction in shipped["interactions"]]
    assert len(descriptions) == 5
    for description in descriptions:
        assert description in summary
    assert summary.count("has status code") == 5 and "FAILED" not in summary, summary
    assert not re.search(r"no state handler found for state: \S", output), output


# ---------------------------------------------------------------- the Makefile's refusals


@pytest.mark.delivery
@pytest.mark.parametrize(
    ("target", "variables", "message"),
    [
        ("pact-consumer", ["PACT_LIB_DIR=/nonexistent"], "libpact_ffi is not in PACT_LIB_DIR"),
        ("pact-verify", ["PACT_LIB_DIR=/nonexistent"], "run make pact-ffi"),
        ("pact-publish", [], "needs PACT_BROKER_BASE_URL"),
        ("can-i-deploy", [], "needs ENV=dev|staging|prod"),
        ("can-i-deploy", ["ENV=dev"], "needs PACT_BROKER_BASE_URL"),
        ("record-deployment", ["ENV=prod"], "needs PACT_BROKER_BASE_URL"),
    ],
)
def test_pact_targets_refuse_clearly_without_the_library_or_the_broker(
    target: str, variables: list[str], message: str, rendered_set: RenderSet
) -> None:
    code, output = make(rendered_set(DEFAULTS), "--no-print-directory", target, *variables)
    assert code == 2, output
    # One line of ours, then make's own note of the failed recipe.
    line = output.strip().splitlines()[0]
    assert line.startswith(f"make {target}") and message in line, output


@pytest.mark.delivery
def test_broker_targets_name_the_missing_cli(rendered_set: RenderSet) -> None:
    project = rendered_set(DEFAULTS)
    code, output = make(
        project, "can-i-deploy", "ENV=dev", "PACT=/nonexistent/pact",
        PACT_BROKER_BASE_URL="http://127.0.0.1:9",
    )  # fmt: skip
    assert code == 2 and "needs the pact CLI: pipx install pact-python-cli" in output, output
    code, output = make(
        project, "pact-publish", f"PACT={pact_cli()}", PACT_BROKER_BASE_URL="http://127.0.0.1:9"
    )
    assert code == 2 and "run make pact-consumer first" in output, output


# ---------------------------------------------------------------- build tag and answer


@pytest.mark.build
def test_only_the_contract_build_tag_brings_in_pact_go(rendered_set: RenderSet) -> None:
    project = rendered_set(DEFAULTS)

    def deps(*tags: str) -> set[str]:
        result = run_tool(["go", "list", *tags, "-deps", "-test", "./..."], cwd=project.path)
        assert result.returncode == 0, result.stderr
        return set(result.stdout.split())

    assert not {dep for dep in deps() if dep.startswith("github.com/pact-foundation/")}
    assert "github.com/pact-foundation/pact-go/v2/consumer" in deps("-tags", "contract")


@pytest.mark.render
def test_without_pact_nothing_of_it_is_generated(rendered_set: RenderSet) -> None:
    project = rendered_set(PACT_OFF)
    assert project.values["pact"] is False
    assert not (project.path / "contracts").exists()
    assert not list(project.path.rglob("contract_test.go"))
    assert "pact-foundation" not in (project.path / "go.mod").read_text(encoding="utf-8")
    assert "pact-foundation" not in (project.path / "go.sum").read_text(encoding="utf-8")
    workflows = project.path / ".github" / "workflows"
    assert sorted(path.name for path in workflows.iterdir()) == ["ci.yml", "deploy.yml"]
    for path in [*workflows.iterdir(), project.path / "Makefile"]:
        assert "pact" not in path.read_text(encoding="utf-8").lower(), path


# ---------------------------------------------------------------- the workflow


def steps_running(workflow: dict[str, Any], job: str) -> list[str]:
    return [step["run"] for step in workflow["jobs"][job]["steps"] if "run" in step]


@pytest.mark.delivery
def test_the_workflows_run_the_targets_these_tests_run(rendered_set: RenderSet) -> None:
    workflows = rendered_set(DEFAULTS).path / ".github" / "workflows"
    ci = yaml.safe_load((workflows / "ci.yml").read_text(encoding="utf-8"))
    verify = yaml.safe_load((workflows / "pact-verify.yml").read_text(encoding="utf-8"))
    deploy = yaml.safe_load((workflows / "deploy.yml").read_text(encoding="utf-8"))

    consumer_steps = steps_running(ci, "pact-consumer")
    assert [s for s in consumer_steps if s.startswith("make ")] == [
        "make pact-ffi",
        "make pact-consumer",
        "make pact-publish",
    ]
    # The broker client is a package installed by name, not a download script.
    assert "pipx install 'pact-python-cli==1!0.10.9'" in consumer_steps
    publish = next(
        s for s in ci["jobs"]["pact-consumer"]["steps"] if s.get("run") == "make pact-publish"
    )
    assert publish["if"] == "env.PACT_BROKER_BASE_URL != ''"
    consumer_env = ci["jobs"]["pact-consumer"]["env"]
    assert consumer_env["PACT_VERSION"] == "${{ github.event.pull_request.head.sha || github.sha }}"
    assert consumer_env["PACT_BRANCH"] == "${{ github.head_ref || github.ref_name }}"

    assert ci["jobs"]["pact-verify"]["uses"] == "./.github/workflows/pact-verify.yml"
    assert {"pact-consumer", "pact-verify"} <= set(ci["jobs"]["image"]["needs"])
    triggers = verify[True]  # YAML 1.1 reads `on` as a boolean
    assert "workflow_call" in triggers
    assert triggers["repository_dispatch"]["types"] == ["contract_requiring_verification_published"]
    [verify_job] = verify["jobs"].values()
    assert [s["run"] for s in verify_job["steps"] if "run" in s] == [
        "make pact-ffi",
        "make pact-verify",
    ]
    # The webhook's pact only, against the provider version it names.
    assert verify_job["env"]["PACT_URL"] == "${{ github.event.client_payload.pact_url }}"
    assert verify_job["steps"][0]["with"]["ref"] == "${{ github.event.client_payload.sha }}"

    # Each environment: can-i-deploy before anything is applied, record-deployment after.
    [deploy_job] = deploy["jobs"].values()
    runs = [
        s["run"].split()[:2]
        for s in deploy_job["steps"]
        if str(s.get("run", "")).startswith("make ")
    ]
    assert runs == [["make", "can-i-deploy"], ["make", "deploy"], ["make", "record-deployment"]]
