"""A real node for the control plane of kubernetes_cluster: kube-scheduler, a kubelet and
containerd with runc (Debian's packages) on this machine, pods on a CNI bridge.

Images come from no registry: tests/k8scluster/node's `ociimage` writes the image of a
static binary (go-containerregistry, no Docker), `ctr images import` loads it into
containerd's k8s.io namespace, and its `pause` is the sandbox image. Everything lives in a
short folder under /tmp (unix socket paths are limited to 108 bytes) and is removed at
the end: containers, mounts, the bridge interface.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from delivery_tools import _install_atomically
from gosvc.components import _go, go_version, tools_root
from gosvc.service import free_port
from kubernetes_cluster import (
    NODE_NAME,
    SOURCES,
    STARTUP_TIMEOUT,
    Component,
    Components,
    ControlPlane,
    _sources_digest,
    ensure_kubernetes,
)
from support import wait_until

NODE_SOURCES = SOURCES / "node"

PAUSE_IMAGE = "localhost/pause:test"
POD_SUBNET = "10.244.71.0/24"
BRIDGE = "cgstest0"
CNI_PLUGINS = Path("/usr/lib/cni")


def ensure_node_tools() -> Path:
    """The folder holding `ociimage` and `pause` (tests/k8scluster/node)."""
    key = _sources_digest(NODE_SOURCES, ("go.mod", "go.sum", "ociimage/main.go", "pause/main.go"))
    final_dir = tools_root() / f"node-tools-{key}-{go_version()}"
    _install_atomically(
        final_dir,
        "pause",  # the last one written
        [_go(), "build", "-trimpath", "-o", "{out}/", "./ociimage", "./pause"],
        cwd=NODE_SOURCES,
    )
    return final_dir


def write_image(tools: Path, binary: Path, reference: str, out: Path) -> Path:
    result = subprocess.run(
        [str(tools / "ociimage"), "-binary", str(binary), "-tag", reference, "-out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out


@dataclass
class Node(Components):
    """kube-scheduler, containerd and a kubelet registered as NODE_NAME."""

    plane: ControlPlane
    root: Path
    components: list[Component] = field(default_factory=list)
    started_in: float = 0.0
    # Network namespaces there before: the sandboxes' new ones are removed at the end.
    netns_before: set[str] = field(default_factory=lambda: set(_netns()))

    @property
    def socket(self) -> Path:
        return self.root / "containerd.sock"

    def ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ctr", f"--address={self.socket}", "--namespace=k8s.io", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def import_image(self, tarball: Path) -> None:
        result = self.ctr("images", "import", str(tarball))
        assert result.returncode == 0, result.stderr

    @classmethod
    @contextlib.contextmanager
    def running(cls, plane: ControlPlane) -> Iterator[Node]:
        started = time.monotonic()
        binaries = ensure_kubernetes()
        tools = ensure_node_tools()
        root = Path(tempfile.mkdtemp(prefix="k8snode-", dir="/tmp"))
        node = cls(plane=plane, root=root)
        try:
            node._start(binaries, tools)
            node.started_in = time.monotonic() - started
            yield node
        finally:
            node.stop()

    def _start(self, binaries: Path, tools: Path) -> None:
        root = self.root
        (root / "cni").mkdir()
        (root / "cni" / "10-bridge.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "copier-test",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": BRIDGE,
                            "isGateway": True,
                            "ipMasq": False,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": POD_SUBNET}]],
                                "dataDir": str(root / "ipam"),
                            },
                        },
                        {"type": "loopback"},
                    ],
                }
            )
        )
        (root / "containerd.toml").write_text(
            f"""version = 2
root = "{root / "containerd"}"
state = "{root / "containerd-state"}"
[grpc]
  address = "{self.socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # This machine grants no CAP_SYS_RESOURCE: the kubelet's -998 for the sandbox would
  # fail in runc ("can't get final child's PID from pipe"); keep scores at or above ours.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_PLUGINS}"
    conf_dir = "{root / "cni"}"
"""
        )
        containerd = self._spawn(
            "containerd", ["containerd", f"--config={root / 'containerd.toml'}"]
        )

        def listening() -> bool | None:
            containerd.check_running()
            return True if self.socket.exists() else None

        wait_until("containerd's socket", listening, STARTUP_TIMEOUT)
        pause = write_image(tools, tools / "pause", PAUSE_IMAGE, root / "pause.tar")
        wait_until(
            "containerd importing the pause image",
            lambda: True if self.ctr("images", "import", str(pause)).returncode == 0 else None,
            STARTUP_TIMEOUT,
        )

        self._spawn(
            "kube-scheduler",
            [
                str(binaries / "kube-scheduler"),
                f"--kubeconfig={self.plane.kubeconfig}",
                f"--authentication-kubeconfig={self.plane.kubeconfig}",
                f"--authorization-kubeconfig={self.plane.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
            ],
        )

        kubelet_config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": "127.0.0.1",
            "port": free_port(),
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "readOnlyPort": 0,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
            },
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs",
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "failSwapOn": False,
            "podLogsDir": str(root / "pod-logs"),
            "registerNode": True,
            "staticPodPath": "",
            # One test node on a shared machine: no eviction for a full disk of others.
            "evictionHard": {},
            "imageGCHighThresholdPercent": 100,
            "resolvConf": "/etc/resolv.conf",
        }
        (root / "kubelet.json").write_text(json.dumps(kubelet_config, indent=2))
        self._spawn(
            "kubelet",
            [
                str(binaries / "kubelet"),
                f"--config={root / 'kubelet.json'}",
                f"--kubeconfig={self.plane.node_kubeconfig}",
                f"--root-dir={root / 'kubelet'}",
                f"--cert-dir={root / 'kubelet-pki'}",
                f"--hostname-override={NODE_NAME}",
                "--v=1",
            ],
        )

        def ready() -> bool | None:
            self.check_running()
            result = self.plane.kubectl("get", "node", NODE_NAME, "--output=json")
            if result.returncode != 0:
                return None
            conditions = json.loads(result.stdout).get("status", {}).get("conditions", [])
            return (
                True
                if any(item["type"] == "Ready" and item["status"] == "True" for item in conditions)
                else None
            )

        wait_until(f"node {NODE_NAME} Ready", ready, STARTUP_TIMEOUT)

    def stop(self) -> None:
        self.plane.kubectl("delete", "node", NODE_NAME, "--ignore-not-found")
        kubelet = [item for item in self.components if item.name != "containerd"]
        for component in reversed(kubelet):
            component.stop()
        if self.socket.exists():
            # The pods' containers and sandboxes, which outlive the kubelet.
            listed = self.ctr("tasks", "list", "--quiet")
            for task in listed.stdout.split():
                self.ctr("tasks", "kill", "--signal=SIGKILL", task)
            time.sleep(1)
            for task in listed.stdout.split():
                self.ctr("tasks", "delete", "--force", task)
        for component in self.components:
            if component.name == "containerd":
                component.stop()
        for shim in _shims_of(self.socket):
            with contextlib.suppress(ProcessLookupError):
                os.kill(shim, signal.SIGKILL)
        _unmount_under(self.root)
        for name in set(_netns()) - self.netns_before:
            if name.startswith("cni-"):
                subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
        subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _shims_of(socket: Path) -> list[int]:
    """The containerd-shim processes started for this containerd (found by its socket
    in their command line): they stay behind when containerd stops."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and str(socket).encode() in argv:
            found.append(int(entry.name))
    return found


def _netns() -> list[str]:
    folder = Path("/var/run/netns")
    return [entry.name for entry in folder.iterdir()] if folder.is_dir() else []


def _unmount_under(root: Path) -> None:
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    points = [line.split()[1] for line in mounts if line.split()[1].startswith(str(root))]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
