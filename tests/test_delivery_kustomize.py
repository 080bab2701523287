"""Delivery, Kubernetes: every overlay builds with `kubectl kustomize` (through the
project's `make manifests`), every object decodes strictly into the Kubernetes API types,
and the manifests agree with the service itself: probe ports and shutdown timings are
read from the generated code, probe paths are requested from the running binary."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from delivery_support import (
    ENVIRONMENTS,
    decode_strictly,
    defaults_of,
    go_duration_seconds,
    kinds,
    manifests,
    manifests_text,
    one,
)
from delivery_tools import shellcheck
from gosvc.matrix import AnswerSet
from gosvc.service import Service
from support import DEFAULTS, MATRIX, BuildSet, Project, RenderSet, run_tool

pytestmark = pytest.mark.delivery

IMAGE = "registry.example.test/team/service@sha256:" + "ab" * 32
# A label value: at most 63 characters, alphanumerics and -_. inside (empty is allowed).
LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?")
PROBES = {"startupProbe": "/startupz", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
BY_NAME = {answer_set.name: answer_set for answer_set in MATRIX}
# Sets whose ports or optional code differ: enough to catch a number copied by hand.
PORT_SETS = [BY_NAME["defaults"], BY_NAME["ports"], BY_NAME["no-example"]]


def ids(answer_set: AnswerSet) -> str:
    return answer_set.name


def kustomizations(project: Project) -> list[Path]:
    """The project's own kustomization files, not render.sh's scratch ones (.release.*)
    that a test running in parallel on the same project may be writing."""
    found = (project.path / "deploy").rglob("kustomization.yaml")
    return [
        path
        for path in found
        if not any(part.startswith(".") for part in path.relative_to(project.path).parts)
    ]


def pod_and_container(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod: dict[str, Any] = one(objects, "Deployment")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    return pod, container


def container_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's target port, given by number or by a container port's name."""
    if isinstance(port, int):
        return port
    numbers = [item["containerPort"] for item in container["ports"] if item["name"] == port]
    assert len(numbers) == 1, f"no single container port named {port!r}"
    return int(numbers[0])


def config_map(objects: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = one(objects, "ConfigMap")["data"]
    return data


def pre_stop_seconds(container: dict[str, Any]) -> float:
    """How long a preStop hook holds SIGTERM back (0 without one). Only the sleep action
    has a known length; an exec hook would make the budget unknowable, so it is refused."""
    hook = container.get("lifecycle", {}).get("preStop")
    if hook is None:
        return 0.0
    assert "sleep" in hook, f"a preStop hook other than sleep has no known length: {hook}"
    return float(hook["sleep"]["seconds"])


@pytest.mark.parametrize("answer_set", MATRIX, ids=ids)
def test_every_overlay_builds_and_decodes_strictly(
    answer_set: AnswerSet, rendered_set: RenderSet
) -> None:
    project = rendered_set(answer_set)
    for environment in ENVIRONMENTS:
        text = manifests_text(project, environment, IMAGE)
        result = decode_strictly(text)
        assert result.returncode == 0, f"{environment}: {result.stderr}"
        decoded = result.stdout.splitlines()
        assert len(decoded) == len(manifests(project, environment, IMAGE)) >= 7
        assert all(line.startswith("ok ") for line in decoded), decoded


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (("enableServiceLinks:", "enableServiceLink:"), 'unknown field "enableServiceLink"'),
        (("  timeoutSeconds: 3", '  timeoutSeconds: "3"'), "cannot unmarshal string"),
        (("kind: PodDisruptionBudget", "kind: PodDisruptionBudgets"), "unknown kind"),
    ],
    ids=["misspelt-field", "wrong-type", "unknown-kind"],
)
def test_strict_decoder_refuses_what_the_api_would_not_take(
    change: tuple[str, str], complaint: str, rendered_set: RenderSet
) -> None:
    text = manifests_text(rendered_set(DEFAULTS), "dev", IMAGE)
    old, new = change
    assert old in text
    result = decode_strictly(text.replace(old, new, 1))
    assert result.returncode == 1
    assert complaint in result.stderr


@pytest.mark.parametrize("answer_set", PORT_SETS, ids=ids)
def test_probes_and_ports_match_the_service_config(
    answer_set: AnswerSet, rendered_set: RenderSet
) -> None:
    project = rendered_set(answer_set)
    service = defaults_of(project)
    for environment in ENVIRONMENTS:
        objects = manifests(project, environment, IMAGE)
        _, container = pod_and_container(objects)
        env = {item["name"]: item for item in container.get("env", [])}
        # The listeners are the code's defaults: nothing in the manifests moves them.
        assert "HTTP_ADDR" not in env and "HTTP_ADDR" not in config_map(objects)
        assert "ADMIN_ADDR" not in env and "ADMIN_ADDR" not in config_map(objects)

        for probe, path in PROBES.items():
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{environment} {probe}"
            assert container_port(container, get["port"]) == service.http_port, probe

        ports = one(objects, "Service")["spec"]["ports"]
        targets = {container_port(container, port["targetPort"]) for port in ports}
        assert targets == {service.http_port}, f"{environment}: the Service exposes {targets}"
        assert service.admin_port not in {port["port"] for port in ports}

        # The admin listener is never behind the Service's public port, by name or number.
        assert "admin" not in {port["targetPort"] for port in ports}
        assert "admin" not in {port.get("name") for port in ports}

        policies = [item for item in objects if item["kind"] == "NetworkPolicy"]
        for policy in policies:
            allowed = {
                container_port(container, port["port"])
                for rule in policy["spec"]["ingress"]
                for port in rule["ports"]
            }
            opened = {service.http_port, service.admin_port}
            assert allowed == opened, f"{environment}: NetworkPolicy opens {allowed}"


@pytest.mark.parametrize("answer_set", PORT_SETS, ids=ids)
def test_shutdown_budget_and_probe_thresholds_fit_the_service_timings(
    answer_set: AnswerSet, rendered_set: RenderSet
) -> None:
    project = rendered_set(answer_set)
    service = defaults_of(project)
    for environment in ENVIRONMENTS:
        objects = manifests(project, environment, IMAGE)
        pod, container = pod_and_container(objects)
        config = config_map(objects)
        # The ConfigMap spells the timings out; they must be the code's own defaults, so
        # a change to either shows up here.
        drain = go_duration_seconds(config["DRAIN_DELAY"])
        shutdown = go_duration_seconds(config["SHUTDOWN_TIMEOUT"])
        assert drain == service.drain_delay, environment
        assert shutdown == service.shutdown_timeout, environment

        # SHUTDOWN_TIMEOUT twice: once for requests in flight, once for flushing spans.
        budget = pre_stop_seconds(container) + drain + 2 * shutdown
        assert pod["terminationGracePeriodSeconds"] > budget, (
            f"{environment}: SIGKILL after {pod['terminationGracePeriodSeconds']}s, "
            f"but preStop + DRAIN_DELAY + 2 x SHUTDOWN_TIMEOUT = {budget}s"
        )

        liveness = container["livenessProbe"]
        window = liveness["periodSeconds"] * liveness["failureThreshold"]
        assert window > drain + shutdown, "liveness could restart a pod that is shutting down"

        readiness = container["readinessProbe"]
        noticed = readiness["periodSeconds"] * readiness["failureThreshold"]
        assert noticed <= drain, "readiness would notice the drain only after it is over"
        assert readiness["timeoutSeconds"] > service.readiness_check_timeout

        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 30


@pytest.mark.parametrize("answer_set", [DEFAULTS, BY_NAME["no-example"]], ids=ids)
def test_probe_paths_are_served_by_the_built_service(
    answer_set: AnswerSet, built_set: BuildSet, tmp_path: Path
) -> None:
    built = built_set(answer_set)  # `make build`: static, as in the image
    project, binary = built.project, built.binary
    _, container = pod_and_container(manifests(project, "prod", IMAGE))
    paths = [container[probe]["httpGet"]["path"] for probe in PROBES]

    service = Service(binary, log_dir=tmp_path, env={"DRAIN_DELAY": "0s"})
    try:
        service.wait_for_status("/startupz", 200)
        for path in paths:
            assert service.status(path) == 200, f"GET {path}: {service.stderr()}"
        assert service.status("/no-such-probe") == 404, "the check above could not fail"
        service.terminate()
        assert service.wait() == 0
    finally:
        service.stop()


@pytest.mark.parametrize("answer_set", MATRIX, ids=ids)
def test_restricted_pod_security_in_every_overlay(
    answer_set: AnswerSet, rendered_set: RenderSet
) -> None:
    project = rendered_set(answer_set)
    for environment in ENVIRONMENTS:
        objects = manifests(project, environment, IMAGE)
        pod, container = pod_and_container(objects)
        where = f"{answer_set.name}/{environment}"

        pod_security = pod["securityContext"]
        assert pod_security["runAsNonRoot"] is True, where
        assert pod_security["runAsUser"] != 0, where
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(host), f"{where}: {host}"

        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, where
        assert security["readOnlyRootFilesystem"] is True, where
        assert security["runAsNonRoot"] is True, where
        assert security["capabilities"] == {"drop": ["ALL"]}, where
        assert not security.get("privileged"), where

        # No API token in the pod: neither from the ServiceAccount nor the pod spec.
        assert pod["automountServiceAccountToken"] is False, where
        assert one(objects, "ServiceAccount")["automountServiceAccountToken"] is False, where

        labels = one(objects, "Namespace")["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", where

        # Limits give GOMAXPROCS (CPU) and the GOMEMLIMIT logic (memory) a number to read.
        resources = container["resources"]
        assert {"cpu", "memory"} <= resources["limits"].keys(), where
        assert {"cpu", "memory"} <= resources["requests"].keys(), where


def test_environments_differ_where_they_should(rendered_set: RenderSet) -> None:
    project = rendered_set(DEFAULTS)
    by_environment = {env: manifests(project, env, IMAGE) for env in ENVIRONMENTS}

    settings = {env: config_map(objects) for env, objects in by_environment.items()}
    for key in ("LOG_LEVEL", "OTEL_TRACES_SAMPLER_ARG", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        assert all(key in config for config in settings.values()), key
    assert len({config["LOG_LEVEL"] for config in settings.values()}) == len(ENVIRONMENTS)
    ratios = [float(settings[env]["OTEL_TRACES_SAMPLER_ARG"]) for env in ENVIRONMENTS]
    assert ratios == sorted(ratios, reverse=True), "sampling should shrink towards prod"
    for env, config in settings.items():
        assert config["OTEL_SERVICE_NAME"] == project.service_name
        assert f"deployment.environment.name={env}" in config["OTEL_RESOURCE_ATTRIBUTES"]

    bounds = []
    for objects in by_environment.values():
        hpa = one(objects, "HorizontalPodAutoscaler")["spec"]
        assert hpa["scaleTargetRef"]["name"] == project.service_name
        bounds.append((hpa["minReplicas"], hpa["maxReplicas"]))
    assert bounds == sorted(bounds) and len(set(bounds)) == len(ENVIRONMENTS)

    # Every environment sizes its own pods: no two share a CPU or memory limit.
    for resource in ("cpu", "memory"):
        limits = [
            pod_and_container(by_environment[env])[1]["resources"]["limits"][resource]
            for env in ENVIRONMENTS
        ]
        assert len(set(limits)) == len(ENVIRONMENTS), f"{resource} limits per environment"

    # prod: spread over zones and nodes, and a stricter disruption budget than the base.
    prod_pod, _ = pod_and_container(by_environment["prod"])
    keys = {item["topologyKey"] for item in prod_pod["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert "topologySpreadConstraints" not in pod_and_container(by_environment["dev"])[0]
    selector = {"app.kubernetes.io/name": project.service_name}
    for env, objects in by_environment.items():
        budget = one(objects, "PodDisruptionBudget")["spec"]
        assert budget["selector"]["matchLabels"] == selector, env
    assert one(by_environment["dev"], "PodDisruptionBudget")["spec"]["maxUnavailable"] == "50%"
    assert one(by_environment["prod"], "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1

    # The NetworkPolicy is an optional component: on in staging and prod, off in dev.
    assert "NetworkPolicy" not in kinds(by_environment["dev"])
    for env in ("staging", "prod"):
        policy = one(by_environment[env], "NetworkPolicy")
        assert policy["metadata"]["namespace"] == project.service_name
        assert policy["spec"]["podSelector"]["matchLabels"] == selector


@pytest.mark.parametrize("answer_set", MATRIX, ids=ids)
def test_labels_namespace_and_image(answer_set: AnswerSet, rendered_set: RenderSet) -> None:
    project = rendered_set(answer_set)
    name = project.service_name
    for environment in ENVIRONMENTS:
        objects = manifests(project, environment, IMAGE, version="v1.2.3-4-gabc1234")
        # <service>-<environment>, the service name cut to keep it a valid label value.
        instance = f"{name[: 62 - len(environment)].rstrip('-')}-{environment}"
        assert instance.startswith(name[:40]) and len(instance) <= 63
        for item in objects:
            metadata = item["metadata"]
            where = f"{environment} {item['kind']}/{metadata['name']}"
            labels = metadata.get("labels", {})
            assert labels.get("app.kubernetes.io/name") == name, where
            assert labels.get("app.kubernetes.io/managed-by") == "kustomize", where
            assert labels.get("app.kubernetes.io/instance") == instance, where
            assert labels.get("app.kubernetes.io/version") == "v1.2.3-4-gabc1234", where
            if item["kind"] != "Namespace":
                assert metadata.get("namespace") == name, where

        deployment = one(objects, "Deployment")
        # Selectors are immutable: only the stable name label may be in them.
        assert deployment["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
        assert pod_labels["app.kubernetes.io/instance"] == instance
        # The API server refuses a label value over 63 characters (a long service name
        # plus "-staging" was one): every label of every object and pod template.
        for item in objects:
            template = item.get("spec", {}).get("template", {}).get("metadata", {})
            for key, value in {
                **item["metadata"].get("labels", {}),
                **template.get("labels", {}),
            }.items():
                assert LABEL_VALUE.fullmatch(value), f"{environment} {item['kind']}: {key}={value}"
        assert pod_labels["app.kubernetes.io/version"] == "v1.2.3-4-gabc1234"
        _, container = pod_and_container(objects)
        assert container["image"] == IMAGE, "the images transformer pins the given image"

    # Without IMAGE, the Makefile's default repository and version are used.
    _, container = pod_and_container(manifests(project, "dev"))
    assert container["image"].rsplit(":", 1)[0].endswith(name)

    for kustomization in kustomizations(project):
        document = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        deprecated = {"commonLabels", "bases", "patchesStrategicMerge", "patchesJson6902", "vars"}
        assert not deprecated & document.keys(), f"{kustomization}: deprecated fields"


def test_render_script_is_shellcheck_clean_and_refuses_unknown_environments(
    fresh_project: Project,
) -> None:
    # A private project: render.sh's scratch folders of other tests running in parallel
    # on a shared one would count as leftovers.
    project = fresh_project
    script = project.path / "deploy" / "kustomize" / "render.sh"
    checked = run_tool([str(shellcheck()), "--shell=sh", str(script)])
    assert checked.returncode == 0, checked.stdout

    for environment in ("qa", "../base", ""):
        result = run_tool(["make", "manifests", f"ENV={environment}"], cwd=project.path)
        assert result.returncode != 0, environment
        assert "ENV" in result.stderr, result.stderr
    leftovers = list((project.path / "deploy" / "kustomize").glob(".release.*"))
    assert not leftovers, "render.sh left its scratch kustomization behind"


@pytest.mark.parametrize(
    ("version", "label"),
    [
        ("v1.2.3-dirty", "v1.2.3-dirty"),
        ("feature/x+build.7", "feature-x-build.7"),
        ("-" + "a" * 70, "a" * 62),
    ],
    ids=["describe", "folded", "trimmed"],
)
def test_version_label_is_a_valid_label_value(
    version: str, label: str, rendered_set: RenderSet
) -> None:
    objects = manifests(rendered_set(DEFAULTS), "dev", IMAGE, version=version)
    labels = one(objects, "Deployment")["metadata"]["labels"]
    assert labels["app.kubernetes.io/version"] == label
    text = manifests_text(rendered_set(DEFAULTS), "dev", IMAGE, version=version)
    assert decode_strictly(text).returncode == 0


@pytest.mark.parametrize("answer_set", [DEFAULTS, BY_NAME["no-example"]], ids=ids)
def test_no_replicas_where_the_hpa_scales(answer_set: AnswerSet, rendered_set: RenderSet) -> None:
    """An applied replicas field resets every scale-out the HPA made (server-side apply
    and GitOps tools own the fields they apply); the HPA's minReplicas is the floor."""
    project = rendered_set(answer_set)
    minimums = []
    for environment in ENVIRONMENTS:
        objects = manifests(project, environment, IMAGE)
        assert "replicas" not in one(objects, "Deployment")["spec"], environment
        minimums.append(one(objects, "HorizontalPodAutoscaler")["spec"]["minReplicas"])
    assert minimums == sorted(minimums) and len(set(minimums)) == len(ENVIRONMENTS)
    for kustomization in kustomizations(project):
        document = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        assert "replicas" not in document, kustomization


@pytest.mark.parametrize("answer_set", MATRIX, ids=ids)
def test_memory_request_equals_the_limit(answer_set: AnswerSet, rendered_set: RenderSet) -> None:
    """GOMEMLIMIT is derived from the limit, and only the request is guaranteed."""
    project = rendered_set(answer_set)
    for environment in ENVIRONMENTS:
        _, container = pod_and_container(manifests(project, environment, IMAGE))
        resources = container["resources"]
        assert resources["requests"]["memory"] == resources["limits"]["memory"], environment


def test_prod_spread_cannot_leave_pods_pending_on_tainted_nodes(rendered_set: RenderSet) -> None:
    """A hard spread constraint counts nodes the pod cannot tolerate as empty domains
    unless nodeTaintsPolicy is Honor; then the skew towards them keeps pods Pending."""
    pod, _ = pod_and_container(manifests(rendered_set(DEFAULTS), "prod", IMAGE))
    constraints = pod["topologySpreadConstraints"]
    assert {item["topologyKey"] for item in constraints} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    for constraint in constraints:
        if constraint["whenUnsatisfiable"] == "DoNotSchedule":
            assert constraint.get("nodeTaintsPolicy") == "Honor", constraint["topologyKey"]
            assert constraint.get("nodeAffinityPolicy", "Honor") == "Honor"
        else:
            assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
    zone = next(item for item in constraints if "zone" in item["topologyKey"])
    assert zone["whenUnsatisfiable"] == "ScheduleAnyway", "a one-zone cluster must still run"


# Namespaces other than the defaults, so a name copied by hand shows up.
NAMESPACES = AnswerSet(
    "namespaces",
    {
        "service_name": "orders",
        "downstream_name": "billing",
        "ingress_namespace": "traefik",
        "monitoring_namespace": "prometheus",
        "collector_namespace": "otel",
        "http_port": 18080,
        "admin_port": 19090,
    },
)


def namespace_of(peer: dict[str, Any]) -> str:
    labels: dict[str, str] = peer["namespaceSelector"]["matchLabels"]
    assert list(labels) == ["kubernetes.io/metadata.name"], labels
    return labels["kubernetes.io/metadata.name"]


def ports_of(rule: dict[str, Any], container: dict[str, Any]) -> set[tuple[int, str]]:
    return {
        (container_port(container, port["port"]), port.get("protocol", "TCP"))
        for port in rule.get("ports", [])
    }


@pytest.mark.parametrize("answer_set", [DEFAULTS, NAMESPACES], ids=ids)
def test_network_policy_admits_and_sends_only_what_the_service_needs(
    answer_set: AnswerSet, rendered_set: RenderSet
) -> None:
    project = rendered_set(answer_set)
    values = project.values
    service = defaults_of(project)
    for environment in ("staging", "prod"):
        objects = manifests(project, environment, IMAGE)
        _, container = pod_and_container(objects)
        policy = one(objects, "NetworkPolicy")["spec"]
        assert set(policy["policyTypes"]) == {"Ingress", "Egress"}, "egress must be closed"

        ingress = {}
        for rule in policy["ingress"]:
            [peer] = rule["from"]
            assert "podSelector" not in peer and "ipBlock" not in peer, peer
            ingress[namespace_of(peer)] = ports_of(rule, container)
        assert ingress == {
            values["ingress_namespace"]: {(service.http_port, "TCP")},
            values["monitoring_namespace"]: {(service.admin_port, "TCP")},
        }, environment

        egress = {}
        for rule in policy["egress"]:
            [peer] = rule["to"]
            assert "ipBlock" not in peer, peer
            pods = peer.get("podSelector", {}).get("matchLabels")
            egress[namespace_of(peer)] = (pods, ports_of(rule, container))
        downstream = values["downstream_name"]
        # The collector is where the overlay sends telemetry: the same namespace.
        endpoint = config_map(objects)["OTEL_EXPORTER_OTLP_ENDPOINT"]
        host, port = endpoint.removeprefix("http://").split(":")
        collector_namespace = host.split(".")[1]
        assert collector_namespace == values["collector_namespace"], endpoint
        assert egress == {
            "kube-system": ({"k8s-app": "kube-dns"}, {(53, "UDP"), (53, "TCP")}),
            downstream: ({"app.kubernetes.io/name": downstream}, set()),
            collector_namespace: (None, {(int(port), "TCP")}),
        }, environment


def expand_like_the_kubelet(container: dict[str, Any], config: dict[str, str]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env in
    order, each value's $(NAME) expanded from what is defined so far ($$ escapes a $;
    an unknown reference stays as written). fieldRefs get recognisable stand-ins."""
    field_values = {
        "metadata.name": "pod-7f9c",
        "metadata.namespace": "ns-x",
        "spec.nodeName": "node-3",
    }
    environment = dict(config)
    reference = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")

    def expand(value: str) -> str:
        def one_reference(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            return environment.get(match.group(1), match.group(0))

        return reference.sub(one_reference, value)

    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = expand(variable["value"])
        else:
            path = variable["valueFrom"]["fieldRef"]["fieldPath"]
            environment[variable["name"]] = field_values[path]
    return environment


@pytest.mark.parametrize("answer_set", [DEFAULTS, BY_NAME["no-example"]], ids=ids)
def test_pod_name_namespace_and_node_reach_the_telemetry_resource(
    answer_set: AnswerSet, rendered_set: RenderSet
) -> None:
    project = rendered_set(answer_set)
    for environment in ENVIRONMENTS:
        objects = manifests(project, environment, IMAGE)
        _, container = pod_and_container(objects)
        value = expand_like_the_kubelet(container, config_map(objects))["OTEL_RESOURCE_ATTRIBUTES"]
        assert "$(" not in value, f"{environment}: unexpanded reference in {value}"
        attributes = dict(item.split("=", 1) for item in value.split(","))
        assert attributes == {
            "deployment.environment.name": environment,
            "k8s.pod.name": "pod-7f9c",
            "k8s.namespace.name": "ns-x",
            "k8s.node.name": "node-3",
        }, environment
