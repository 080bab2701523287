"""Delivery, monitoring: the Kustomize component for the Prometheus Operator is off by
default; switched on in an overlay, it turns the service's metrics to the admin
listener's /metrics and adds a PodMonitor that decodes strictly into the Operator's own
Go types and scrapes the pods' admin port under the job the SLO rules select."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from delivery_support import ENVIRONMENTS, decode_strictly, manifests, manifests_text, one
from support import DEFAULTS, CopySet, Project, RenderSet

pytestmark = pytest.mark.delivery


def with_monitoring(project_copy: CopySet, tmp_path: Path, environment: str) -> Project:
    """A copy of the default render whose `environment` overlay adds the component."""
    project = project_copy(DEFAULTS, tmp_path / "project")
    kustomization = (
        project.path / "deploy" / "kustomize" / "overlays" / environment / "kustomization.yaml"
    )
    document = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
    document.setdefault("components", []).append("../../components/monitoring")
    kustomization.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return project


def test_monitoring_is_off_by_default(rendered_set: RenderSet) -> None:
    project = rendered_set(DEFAULTS)
    for environment in ENVIRONMENTS:
        objects = manifests(project, environment)
        assert "PodMonitor" not in {item["kind"] for item in objects}, environment
        assert "OTEL_METRICS_EXPORTER" not in one(objects, "ConfigMap")["data"], environment


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_monitoring_component_scrapes_the_admin_port_as_the_rules_job(
    environment: str, project_copy: CopySet, tmp_path: Path
) -> None:
    project = with_monitoring(project_copy, tmp_path, environment)
    text = manifests_text(project, environment)
    decoded = decode_strictly(text)
    assert decoded.returncode == 0, decoded.stderr
    assert f"ok PodMonitor/{project.service_name}" in decoded.stdout.splitlines()

    objects = [item for item in yaml.safe_load_all(text) if item]
    monitor = one(objects, "PodMonitor")
    deployment = one(objects, "Deployment")
    assert one(objects, "ConfigMap")["data"]["OTEL_METRICS_EXPORTER"] == "prometheus"

    # Same namespace as the pods (a PodMonitor selects in its own), and its selector
    # matches the pod template's labels.
    assert monitor["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector and all(pod_labels.get(key) == value for key, value in selector.items())

    # The job label comes from a pod label whose value is the job the SLO rules select.
    assert pod_labels[monitor["spec"]["jobLabel"]] == project.service_name
    rules = (project.path / "deploy" / "observability" / "slo-rules.yaml").read_text(
        encoding="utf-8"
    )
    assert f'job="{project.service_name}"' in rules

    # It scrapes the admin port, which the container names, at /metrics.
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert endpoint["port"] in {port["name"] for port in container["ports"]}
    assert endpoint["port"] == "admin" and endpoint["path"] == "/metrics"


def test_strict_decoder_refuses_a_misspelt_pod_monitor(
    project_copy: CopySet, tmp_path: Path
) -> None:
    project = with_monitoring(project_copy, tmp_path, "dev")
    text = manifests_text(project, "dev")
    assert "podMetricsEndpoints:" in text
    result = decode_strictly(text.replace("podMetricsEndpoints:", "podMetricEndpoints:", 1))
    assert result.returncode == 1
    assert 'unknown field "podMetricEndpoints"' in result.stderr
