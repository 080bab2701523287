"""Components, Kubernetes: the generated manifests on a real API server.

One control plane per test run (kubernetes_cluster: etcd, kube-apiserver with Pod Security
admission, kube-controller-manager, built from their Go modules) takes every overlay the
way `make deploy` hands it over, with server-side apply. What the strict decoder of the
delivery layer cannot see is checked here: admission (Pod Security "restricted" enforced
by the namespace the manifests create), the API server's validation and defaulting, and
the controllers acting on what was stored (the HPA scaling the Deployment, the ReplicaSet
creating pods through admission, the disruption controller counting them, a rollout).
There is no node, so pods stay Pending: they are admitted and stored, never started.

Each environment is its own cluster in real life; here each test deletes the namespace it
applied before the next one applies, so every apply starts from an empty namespace.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from delivery_support import ENVIRONMENTS, manifests_text
from gosvc.matrix import AnswerSet
from kubernetes_cluster import ControlPlane
from kubernetes_node import Node, ensure_node_tools, write_image
from support import DEFAULTS, MATRIX, BuildSet, Project, RenderSet, run_tool, wait_until

pytestmark = [pytest.mark.components, pytest.mark.xdist_group("kubernetes")]

IMAGE = "registry.example.test/team/service@sha256:" + "cd" * 32
# The field manager `make deploy` would own the fields with; the same for diff.
FIELD_MANAGER = "copier-go-service-tests"
CONTROLLER_TIMEOUT = 90.0  # seconds for a controller to act, on a loaded machine


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane.running(tmp_path_factory.mktemp("control-plane")) as plane:
        print(f"\ncontrol plane ready in {plane.started_in:.1f}s (binaries cached)")
        yield plane
        plane.check_running()  # no component died while the tests ran


def ids(answer_set: AnswerSet) -> str:
    return answer_set.name


# ---------------------------------------------------------------------- helpers


def documents(text: str) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(text) if document]


def as_text(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


def apply(plane: ControlPlane, text: str) -> list[str]:
    """`kubectl apply --server-side`: every object accepted, with no warning at all (Pod
    Security's warn label would name a violation here). Returns kubectl's lines."""
    result = plane.kubectl(
        "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", "-", stdin=text
    )
    assert result.returncode == 0, f"refused:\n{result.stderr}"
    assert result.stderr == "", f"accepted with warnings:\n{result.stderr}"
    return result.stdout.splitlines()


def diff(plane: ControlPlane, text: str, attempts: int = 3) -> str:
    """What `kubectl diff --server-side` would change; empty when nothing.

    kubectl reads each live object, then dry-runs the apply: a controller writing the
    object's status in between (the HPA updates its conditions while it finds no metrics)
    shows up as a new resourceVersion and status for that moment only. So a difference is
    looked at again, a second later, before it counts; a real one stays."""
    for attempt in range(attempts):
        if attempt:
            time.sleep(1.0)
        result = plane.kubectl(
            "diff", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", "-", stdin=text
        )
        assert result.returncode in (0, 1), result.stderr  # 1: differences found
        if not result.stdout:
            break
    return result.stdout


@contextlib.contextmanager
def namespace_applied(plane: ControlPlane, text: str) -> Iterator[list[str]]:
    """Apply manifests that create their namespace; delete the namespace afterwards, and
    wait until the namespace controller has emptied and removed it."""
    [namespace] = {
        item["metadata"]["name"] for item in documents(text) if item["kind"] == "Namespace"
    }
    try:
        yield apply(plane, text)
    finally:
        result = plane.kubectl("delete", "namespace", namespace, "--wait", "--timeout=120s")
        assert result.returncode == 0, result.stderr


def selector_string(selector: dict[str, Any]) -> str:
    """A LabelSelector as the `-l` argument: the API server does the matching."""
    terms = [f"{key}={value}" for key, value in selector.get("matchLabels", {}).items()]
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = ",".join(expression.get("values", []))
        terms.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[operator]
        )
    assert terms, "an empty selector selects everything"
    return ",".join(terms)


def pod_names(plane: ControlPlane, namespace: str, selector: str) -> set[str]:
    result = plane.kubectl(
        "get", "pods", f"--namespace={namespace}", f"--selector={selector}", "--output=json"
    )
    assert result.returncode == 0, result.stderr
    return {item["metadata"]["name"] for item in json.loads(result.stdout)["items"]}


def owned_by(item: dict[str, Any], kind: str, name: str) -> bool:
    return any(
        owner["kind"] == kind and owner["name"] == name and owner.get("controller")
        for owner in item["metadata"].get("ownerReferences", [])
    )


def replica_sets(plane: ControlPlane, namespace: str, deployment: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = plane.get("replicasets", namespace=namespace)
    return [item for item in items if owned_by(item, "Deployment", deployment)]


def deployment_pods(plane: ControlPlane, namespace: str, deployment: str) -> set[str]:
    """The pods the Deployment's ReplicaSets created (by owner, not by label)."""
    sets = {item["metadata"]["name"] for item in replica_sets(plane, namespace, deployment)}
    pods: list[dict[str, Any]] = plane.get("pods", namespace=namespace)
    return {
        pod["metadata"]["name"]
        for pod in pods
        if any(owned_by(pod, "ReplicaSet", name) for name in sets)
    }


def condition(item: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for entry in item.get("status", {}).get("conditions", []) or []:
        if entry["type"] == kind:
            found: dict[str, Any] = entry
            return found
    return None


def scaled_value(value: int | str, replicas: int, round_up: bool) -> int:
    """An IntOrString of a rolling update resolved as the Deployment controller does:
    percentages of the replicas, maxSurge rounded up, maxUnavailable down."""
    if isinstance(value, int):
        return value
    fraction = int(value.rstrip("%")) * replicas / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


def settled_replicas(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """Wait until the HPA has raised the Deployment to its minReplicas and the
    ReplicaSet has created that many pods; return the stored Deployment."""
    hpa = plane.get("horizontalpodautoscaler", name, namespace)
    wanted = hpa["spec"]["minReplicas"]

    def settled() -> dict[str, Any] | None:
        plane.check_running()
        deployment: dict[str, Any] = plane.get("deployment", name, namespace)
        status = deployment.get("status", {})
        if (
            deployment["spec"]["replicas"] == wanted
            and status.get("observedGeneration") == deployment["metadata"]["generation"]
            and status.get("replicas") == wanted
            and len(deployment_pods(plane, namespace, name)) == wanted
        ):
            return deployment
        return None

    return wait_until(f"{namespace}/{name} at {wanted} pods", settled, CONTROLLER_TIMEOUT)


def generations(plane: ControlPlane, namespace: str) -> dict[str, int]:
    """metadata.generation of every object that has one: it moves only with the spec."""
    result = plane.kubectl(
        "get",
        "deployments,services,serviceaccounts,configmaps,horizontalpodautoscalers,"
        "poddisruptionbudgets,networkpolicies",
        f"--namespace={namespace}",
        "--output=json",
    )
    assert result.returncode == 0, result.stderr
    return {
        f"{item['kind']}/{item['metadata']['name']}": item["metadata"]["generation"]
        for item in json.loads(result.stdout)["items"]
        if "generation" in item["metadata"]
    }


# ---------------------------------------------------------------------- tests


@pytest.mark.parametrize("answer_set", MATRIX, ids=ids)
def test_every_overlay_is_accepted_and_applying_again_changes_nothing(
    answer_set: AnswerSet, rendered_set: RenderSet, control_plane: ControlPlane
) -> None:
    project = rendered_set(answer_set)
    namespace = name = project.service_name
    for environment in ENVIRONMENTS:
        text = manifests_text(project, environment, IMAGE)
        objects = documents(text)
        with namespace_applied(control_plane, text) as applied:
            assert len(applied) == len(objects), applied
            assert all(line.endswith(" serverside-applied") for line in applied), applied

            # Pod Security "restricted" is enforced by the namespace as stored.
            labels = control_plane.get("namespace", namespace)["metadata"]["labels"]
            assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
            assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"

            # The HPA has set the replicas and the pods exist: the controllers are done
            # writing, so a later change could only come from the second apply.
            settled_replicas(control_plane, namespace, name)
            before = generations(control_plane, namespace)
            assert diff(control_plane, text) == "", f"{environment}: not what was applied"
            apply(control_plane, text)
            assert diff(control_plane, text) == "", environment
            assert generations(control_plane, namespace) == before, environment


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_stored_selectors_probes_and_scale_target_agree_with_the_pods(
    environment: str, rendered_set: RenderSet, control_plane: ControlPlane
) -> None:
    project = rendered_set(DEFAULTS)
    namespace = name = project.service_name
    plane = control_plane
    with namespace_applied(plane, manifests_text(project, environment, IMAGE)):
        deployment = settled_replicas(plane, namespace, name)
        pods = deployment_pods(plane, namespace, name)
        replicas = deployment["spec"]["replicas"]
        assert len(pods) == replicas >= 1

        # The HPA found its target and its scale subresource, and set minReplicas on it.
        hpa = plane.get("horizontalpodautoscaler", name, namespace)
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"], target["name"]) == (
            "apps/v1",
            "Deployment",
            name,
        )
        able = wait_until(
            "the HPA's AbleToScale condition",
            lambda: condition(plane.get("horizontalpodautoscaler", name, namespace), "AbleToScale"),
            CONTROLLER_TIMEOUT,
        )
        assert able["status"] == "True", able
        assert replicas == hpa["spec"]["minReplicas"]
        # The HPA averages over the pods the scale subresource's selector names.
        scale = plane.kubectl(
            "get", "--raw", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"
        )
        assert scale.returncode == 0, scale.stderr
        assert pod_names(plane, namespace, json.loads(scale.stdout)["status"]["selector"]) == pods

        # The Service, the PodDisruptionBudget and (staging, prod) the NetworkPolicy select
        # exactly the Deployment's pods, as the API server evaluates their selectors.
        service = plane.get("service", name, namespace)
        selected = pod_names(
            plane, namespace, selector_string({"matchLabels": service["spec"]["selector"]})
        )
        assert selected == pods, "Service"
        budget = plane.get("poddisruptionbudget", name, namespace)
        assert pod_names(plane, namespace, selector_string(budget["spec"]["selector"])) == pods
        counted = wait_until(
            "the disruption controller's count",
            lambda: (
                plane.get("poddisruptionbudget", name, namespace)
                .get("status", {})
                .get("expectedPods")
            ),
            CONTROLLER_TIMEOUT,
        )
        assert counted == replicas, "the PodDisruptionBudget counts other pods"
        policies: list[dict[str, Any]] = plane.get("networkpolicies", namespace=namespace)
        assert len(policies) == (0 if environment == "dev" else 1)
        for policy in policies:
            assert (
                pod_names(plane, namespace, selector_string(policy["spec"]["podSelector"])) == pods
            )

        # Every probe and every named port refers to a port the container declares.
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        declared = {port["name"]: port["containerPort"] for port in container["ports"]}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            port = container[probe]["httpGet"]["port"]
            assert port in declared or port in declared.values(), f"{probe} port {port}"
        for port in service["spec"]["ports"]:
            target_port = port["targetPort"]
            assert target_port in declared or target_port in declared.values(), port
        for policy in policies:
            for rule in policy["spec"]["ingress"]:
                for port in rule["ports"]:
                    assert port["port"] in declared or port["port"] in declared.values(), port


def test_pod_security_admits_the_pods_and_refuses_a_copy_that_escalates(
    rendered_set: RenderSet, control_plane: ControlPlane
) -> None:
    project = rendered_set(DEFAULTS)
    namespace = name = project.service_name
    plane = control_plane
    text = manifests_text(project, "prod", IMAGE)
    with namespace_applied(plane, text):
        # The ReplicaSet controller created the pods through admission: the namespace's
        # "restricted" level took them (no ReplicaFailure) and they are stored.
        settled_replicas(plane, namespace, name)
        [replica_set] = replica_sets(plane, namespace, name)
        assert condition(replica_set, "ReplicaFailure") is None, replica_set["status"]

        # A copy with one violation of the restricted level, selecting pods of its own.
        escalating = f"{name}-escalates"
        [original] = [item for item in documents(text) if item["kind"] == "Deployment"]
        copied = copy.deepcopy(original)
        copied["metadata"]["name"] = escalating
        copied["spec"]["replicas"] = 1
        copied["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": escalating}}
        copied["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = escalating
        [container] = copied["spec"]["template"]["spec"]["containers"]
        container["securityContext"]["allowPrivilegeEscalation"] = True

        # A Deployment is not a pod: it is stored, with the warn label's warning.
        result = plane.kubectl(
            "apply",
            "--server-side",
            f"--field-manager={FIELD_MANAGER}",
            "-f",
            "-",
            stdin=as_text([copied]),
        )
        assert result.returncode == 0, result.stderr
        assert 'would violate PodSecurity "restricted:latest"' in result.stderr, result.stderr

        def refused() -> dict[str, Any] | None:
            for item in replica_sets(plane, namespace, escalating):
                failure = condition(item, "ReplicaFailure")
                if failure is not None:
                    return failure
            return None

        failure = wait_until("the copy's ReplicaFailure", refused, CONTROLLER_TIMEOUT)
        print(f"\nReplicaSet condition: {failure['reason']}: {failure['message']}")
        assert failure["status"] == "True" and failure["reason"] == "FailedCreate"
        message = failure["message"]
        assert 'violates PodSecurity "restricted:latest"' in message, message
        # Exactly the one violation made, nothing the generated manifests brought along.
        violations = message.split('violates PodSecurity "restricted:latest": ', 1)[1]
        assert violations == (
            f'allowPrivilegeEscalation != false (container "{name}" must set '
            "securityContext.allowPrivilegeEscalation=false)"
        ), violations
        assert deployment_pods(plane, namespace, escalating) == set()

        events = plane.kubectl(
            "get",
            "events",
            f"--namespace={namespace}",
            "--field-selector=reason=FailedCreate",
            "--output=json",
        )
        assert events.returncode == 0, events.stderr
        refusals = [
            item["message"]
            for item in json.loads(events.stdout)["items"]
            if item["involvedObject"]["name"].startswith(f"{escalating}-")
        ]
        assert refusals and all("allowPrivilegeEscalation != false" in item for item in refusals)
        print(f"event FailedCreate: {refusals[0]}")
        # The unmodified Deployment's pods are still there, next to the refusals.
        assert len(deployment_pods(plane, namespace, name)) >= 1


def changed_config_value(project: Project, environment: str, key: str, value: str) -> None:
    """Change one literal of an overlay's configMapGenerator, as a user would."""
    path = project.path / "deploy" / "kustomize" / "overlays" / environment / "kustomization.yaml"
    text = path.read_text(encoding="utf-8")
    changed, count = re.subn(rf"^(\s*- {key}=).*$", rf"\g<1>{value}", text, flags=re.MULTILINE)
    assert count == 1, f"{key} is not a literal of {path}"
    path.write_text(changed, encoding="utf-8")


def make_manifests(project: Project, environment: str) -> str:
    """`make manifests` of a private project, read afresh (manifests_text caches)."""
    result = run_tool(
        ["make", "--no-print-directory", "manifests", f"ENV={environment}", f"IMAGE={IMAGE}"],
        cwd=project.path,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_changed_config_value_rolls_out_with_the_declared_surge(
    fresh_project: Project, control_plane: ControlPlane
) -> None:
    project = fresh_project
    namespace = name = project.service_name
    plane = control_plane
    before = make_manifests(project, "prod")
    with namespace_applied(plane, before):
        deployment = settled_replicas(plane, namespace, name)
        [old] = replica_sets(plane, namespace, name)
        old_config = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]

        changed_config_value(project, "prod", "LOG_LEVEL", "error")
        after = make_manifests(project, "prod")
        apply(plane, after)

        replicas = deployment["spec"]["replicas"]
        strategy = deployment["spec"]["strategy"]["rollingUpdate"]
        surge = scaled_value(strategy["maxSurge"], replicas, round_up=True)
        unavailable = scaled_value(strategy["maxUnavailable"], replicas, round_up=False)
        # The template surges and never drops below capacity: with pods that never become
        # ready (no node) the rollout therefore stops at replicas + surge, old ones kept.
        assert (surge, unavailable) == (1, 0), strategy

        def rolled() -> list[dict[str, Any]] | None:
            sets = replica_sets(plane, namespace, name)
            stored = plane.get("deployment", name, namespace)
            done = (
                stored.get("status", {}).get("observedGeneration")
                == stored["metadata"]["generation"]
                and len(deployment_pods(plane, namespace, name)) == replicas + surge
            )
            return sets if len(sets) == 2 and done else None

        sets = wait_until("the new ReplicaSet", rolled, CONTROLLER_TIMEOUT)
        stored = plane.get("deployment", name, namespace)
        [new] = [item for item in sets if item["metadata"]["name"] != old["metadata"]["name"]]
        by_name = {item["metadata"]["name"]: item for item in replica_sets(plane, namespace, name)}
        assert by_name[old["metadata"]["name"]]["spec"]["replicas"] == replicas - unavailable
        assert by_name[new["metadata"]["name"]]["spec"]["replicas"] == surge
        assert len(deployment_pods(plane, namespace, name)) == replicas + surge
        progressing = condition(stored, "Progressing")
        assert progressing is not None and progressing["reason"] == "ReplicaSetUpdated"

        # The new pods read a new ConfigMap (the generator's hash changed with the value);
        # the old one stays for the old pods and a rollback.
        new_config = new["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]
        old_name = old_config["configMapRef"]["name"]
        new_name = new_config["configMapRef"]["name"]
        assert new_name != old_name and new_name.startswith(f"{name}-config-")
        assert plane.get("configmap", new_name, namespace)["data"]["LOG_LEVEL"] == "error"
        assert plane.get("configmap", old_name, namespace)["data"]["LOG_LEVEL"] == "warn"
        print(
            f"\nrollout: {replicas} replicas, maxSurge {strategy['maxSurge']} -> {surge}, "
            f"maxUnavailable {strategy['maxUnavailable']} -> {unavailable}: old ReplicaSet "
            f"kept at {replicas - unavailable}, new one at {surge}"
        )


# ---------------------------------------------------------------------- a real node


@pytest.fixture
def node(control_plane: ControlPlane) -> Iterator[Node]:
    """A kubelet with containerd for one test: the other tests' pods stay unscheduled."""
    with Node.running(control_plane) as running:
        print(f"\nnode ready in {running.started_in:.1f}s")
        yield running


def watched_states(stream: str) -> list[tuple[bool, dict[str, Any]]]:
    """(ready, state) of the container in each object `kubectl get -w -o json` printed
    (the stream is cut wherever the watch was stopped)."""
    decoder = json.JSONDecoder()
    states, position = [], 0
    while position < len(stream):
        if stream[position].isspace():
            position += 1
            continue
        try:
            pod, position = decoder.raw_decode(stream, position)
        except json.JSONDecodeError:
            break  # the last object, cut off when the watch was stopped
        for status in pod.get("status", {}).get("containerStatuses", []):
            states.append((bool(status.get("ready")), status.get("state", {})))
    return states


def test_on_a_real_node_the_probes_pass_and_a_deleted_pod_drains_and_exits_zero(
    built_set: BuildSet, node: Node, control_plane: ControlPlane, tmp_path: Path
) -> None:
    plane = control_plane
    built = built_set(DEFAULTS)  # `make build`: the static binary the image holds
    project = built.project
    namespace = name = project.service_name
    image = f"localhost/{name}:test"
    node.import_image(write_image(ensure_node_tools(), built.binary, image, tmp_path / "image.tar"))
    with namespace_applied(plane, manifests_text(project, "dev", image)):

        def started_and_ready() -> dict[str, Any] | None:
            node.check_running()
            for pod in plane.get("pods", namespace=namespace):
                for status in pod["status"].get("containerStatuses", []):
                    if status.get("started") and status.get("ready"):
                        found: dict[str, Any] = pod
                        return found
            return None

        # The kubelet's startup probe passed (started), then its readiness probe (ready).
        pod = wait_until("a started, ready pod", started_and_ready, CONTROLLER_TIMEOUT)
        pod_name = pod["metadata"]["name"]
        spec = pod["spec"]
        [container] = spec["containers"]
        # Past one liveness period: the liveness probe has run and restarted nothing.
        time.sleep(container["livenessProbe"]["periodSeconds"] + 2)
        [status] = plane.get("pod", pod_name, namespace)["status"]["containerStatuses"]
        assert status["ready"] and status["restartCount"] == 0, status

        env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
        with subprocess.Popen(
            [
                "kubectl",
                "get",
                "pod",
                pod_name,
                f"--namespace={namespace}",
                "--watch",
                "--output=json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        ) as watch:
            time.sleep(1)
            deleted = time.time()
            result = plane.kubectl(
                "delete", "pod", pod_name, f"--namespace={namespace}", "--wait=false"
            )
            assert result.returncode == 0, result.stderr
            gone = plane.kubectl(
                "wait",
                "--for=delete",
                f"pod/{pod_name}",
                f"--namespace={namespace}",
                "--timeout=90s",
            )
            assert gone.returncode == 0, gone.stderr
            time.sleep(1)
            watch.terminate()
            stream, _ = watch.communicate(timeout=10)
        states = watched_states(stream)
        unready = [i for i, (ready, state) in enumerate(states) if not ready and "running" in state]
        stopped = [i for i, (_, state) in enumerate(states) if "terminated" in state]
        assert unready and stopped and unready[0] < stopped[0], states
        terminated = states[stopped[-1]][1]["terminated"]
        assert terminated["exitCode"] == 0, terminated
        finished = datetime.fromisoformat(terminated["finishedAt"].replace("Z", "+00:00"))
        took = finished.timestamp() - deleted
        print(f"deleted pod: unready while running, then exit 0 after {took:.0f}s")
        assert took < spec["terminationGracePeriodSeconds"], took
