"""A real Kubernetes control plane on loopback ports, for the components tests.

etcd and the Kubernetes binaries are built from their Go modules (tests/k8scluster: etcd
from go.etcd.io/etcd/server/v3, kube-apiserver, kube-controller-manager, kube-scheduler and
the kubelet (for kubernetes_node) from k8s.io/kubernetes with its staging modules replaced
by their releases) into the tools cache, once per version and Go version, like the other
tools (delivery_tools). Then `ControlPlane.start` runs etcd, kube-apiserver (a static
token for an admin, a generated service-account key, self-signed serving certificates in
a temporary --cert-dir, the default admission plugins with PodSecurity) and
kube-controller-manager (Deployment, ReplicaSet, HPA, namespace and the other
controllers), all bound to 127.0.0.1 on free ports.
Without a node (kubernetes_node) pods pass admission and are stored, then stay Pending.

Run ``python tests/kubernetes_cluster.py`` to build the binaries and print how long it took.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from delivery_tools import ToolUnavailable, _install_atomically
from gosvc.components import _go, go_version, tools_root
from gosvc.service import free_port, stop_process
from support import wait_until

SOURCES = Path(__file__).resolve().parent / "k8scluster"
KUBERNETES_VERSION = "v1.34.4"
ETCD_VERSION = "v3.6.16"
KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")
NODE_NAME = "copier-test-node"  # the kubelet of kubernetes_node
STARTUP_TIMEOUT = 180.0  # seconds; on a loaded machine the apiserver needs a while


def _sources_digest(folder: Path, names: tuple[str, ...], extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for name in names:
        digest.update(name.encode())
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:12]


def ensure_etcd() -> Path:
    """etcd's server, built from tests/k8scluster/etcd (a main calling etcdmain.Main)."""
    source = SOURCES / "etcd"
    key = _sources_digest(source, ("go.mod", "go.sum", "main.go"))
    final_dir = tools_root() / f"etcd-{ETCD_VERSION}-{key}-{go_version()}"
    return _install_atomically(
        final_dir, "etcd", [_go(), "build", "-trimpath", "-o", "{out}/etcd", "."], cwd=source
    )


def ensure_kubernetes() -> Path:
    """The folder holding the KUBERNETES_COMMANDS of KUBERNETES_VERSION."""
    key = _sources_digest(SOURCES, ("go.mod", "go.sum"), extra=" ".join(KUBERNETES_COMMANDS))
    final_dir = tools_root() / f"kubernetes-{KUBERNETES_VERSION}-{key}-{go_version()}"
    packages = [f"k8s.io/kubernetes/cmd/{command}" for command in KUBERNETES_COMMANDS]
    _install_atomically(
        final_dir,
        KUBERNETES_COMMANDS[-1],  # the last one written: all are there when it is
        [_go(), "build", "-trimpath", "-o", "{out}/", *packages],
        cwd=SOURCES,
    )
    return final_dir


def _kubeconfig(server: str, ca_file: Path, token: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "loopback",
                    "cluster": {"server": server, "certificate-authority": str(ca_file)},
                }
            ],
            "users": [{"name": "user", "user": {"token": token}}],
            "contexts": [{"name": "loopback", "context": {"cluster": "loopback", "user": "user"}}],
            "current-context": "loopback",
        },
        indent=2,
    )


@dataclass
class Component:
    """One control-plane process and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def check_running(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise AssertionError(f"{self.name} exited with {code}:\n{self.tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s; nothing when it has exited."""
        stop_process(self.process, grace=20)


class Components:
    """What ControlPlane and kubernetes_node's Node share: processes started with their
    logs in `root`, in `components` in the order they were started."""

    root: Path
    components: list[Component]

    def _spawn(self, name: str, argv: list[str]) -> Component:
        log = self.root / f"{name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )
        component = Component(name, process, log)
        self.components.append(component)
        return component

    def check_running(self) -> None:
        for component in self.components:
            component.check_running()


@dataclass
class ControlPlane(Components):
    """etcd, kube-apiserver and kube-controller-manager, and kubectl pointed at them."""

    root: Path
    server: str
    token: str
    ca_file: Path
    kubeconfig: Path  # the admin's (system:masters)
    node_kubeconfig: Path  # system:node:NODE_NAME's, for a kubelet
    components: list[Component] = field(default_factory=list)
    started_in: float = 0.0

    # ------------------------------------------------------------ starting, stopping

    @classmethod
    @contextlib.contextmanager
    def running(cls, root: Path) -> Iterator[ControlPlane]:
        started = time.monotonic()
        etcd = ensure_etcd()
        binaries = ensure_kubernetes()
        built = time.monotonic() - started
        plane = cls._prepare(root)
        try:
            plane._start(etcd, binaries)
            plane.started_in = time.monotonic() - started - built
            yield plane
        finally:
            plane.stop()

    @classmethod
    def _prepare(cls, root: Path) -> ControlPlane:
        root.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        secure_port = free_port()
        server = f"https://127.0.0.1:{secure_port}"
        cert_dir = root / "pki"
        plane = cls(
            root=root,
            server=server,
            token=token,
            # kube-apiserver writes a self-signed CA and serving certificate here.
            ca_file=cert_dir / "apiserver.crt",
            kubeconfig=root / "kubeconfig",
            node_kubeconfig=root / "node.kubeconfig",
        )
        node_token = secrets.token_hex(16)
        (root / "tokens.csv").write_text(
            f'{token},admin,admin,"system:masters"\n'
            # A kubelet (kubernetes_node), authorized by the Node authorizer.
            f'{node_token},system:node:{NODE_NAME},{NODE_NAME},"system:nodes"\n'
        )
        key = root / "service-account.key"
        with key.open("wb") as output:
            subprocess.run(
                ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                stdout=output,
                stderr=subprocess.PIPE,
                check=True,
            )
        subprocess.run(
            [
                "openssl",
                "pkey",
                "-in",
                str(key),
                "-pubout",
                "-out",
                str(root / "service-account.pub"),
            ],
            capture_output=True,
            check=True,
        )
        plane.kubeconfig.write_text(_kubeconfig(server, plane.ca_file, token))
        plane.node_kubeconfig.write_text(_kubeconfig(server, plane.ca_file, node_token))
        return plane

    def _start(self, etcd_binary: Path, binaries: Path) -> None:
        root = self.root
        client, peer = free_port(), free_port()
        etcd = self._spawn(
            "etcd",
            [
                str(etcd_binary),
                "--name=default",
                f"--data-dir={root / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                # Throw-away data on a shared machine: no fsync per write.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        wait_until(
            "etcd /health",
            lambda: self._http_ok(etcd, f"http://127.0.0.1:{client}/health", b'"health":"true"'),
            STARTUP_TIMEOUT,
        )

        port = self.server.rsplit(":", 1)[1]
        apiserver = self._spawn(
            "kube-apiserver",
            [
                str(binaries / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{client}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={root / 'pki'}",
                f"--token-auth-file={root / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={root / 'service-account.pub'}",
                f"--service-account-signing-key-file={root / 'service-account.key'}",
                "--service-cluster-ip-range=10.96.0.0/16",
                # PodSecurity is on by default; named so that no default change drops it.
                "--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,PodSecurity",
                # No node answers on the advertised address: no endpoints for `kubernetes`.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
            ],
        )
        wait_until(
            "kube-apiserver /readyz",
            lambda: self._http_ok(apiserver, f"{self.server}/readyz", b"ok"),
            STARTUP_TIMEOUT,
        )

        controller_manager = self._spawn(
            "kube-controller-manager",
            [
                str(binaries / "kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                f"--service-account-private-key-file={root / 'service-account.key'}",
                f"--root-ca-file={self.ca_file}",
                # The HPA controller's loop (15s by default) sets minReplicas sooner.
                "--horizontal-pod-autoscaler-sync-period=2s",
                "--profiling=false",
            ],
        )
        # Ready when the ReplicaSet controller works: the default ServiceAccount of a
        # namespace is created by the serviceaccount controller, a sign all controllers run.
        wait_until(
            "kube-controller-manager (the default ServiceAccount)",
            lambda: self._controllers_running(controller_manager),
            STARTUP_TIMEOUT,
        )

    def _http_ok(self, component: Component, url: str, expected: bytes) -> bool | None:
        component.check_running()
        context = None
        headers = {}
        if url.startswith("https:"):
            if not self.ca_file.exists():
                return None
            context = ssl.create_default_context(cafile=str(self.ca_file))
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                return True if expected in response.read() else None
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return None

    def _controllers_running(self, component: Component) -> bool | None:
        component.check_running()
        result = self.kubectl("get", "serviceaccount", "default", "--namespace=default")
        return True if result.returncode == 0 else None

    def stop(self) -> None:
        for component in reversed(self.components):
            component.stop()

    # ------------------------------------------------------------------- kubectl

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        return subprocess.run(
            ["kubectl", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )

    def get(self, kind: str, name: str | None = None, namespace: str | None = None) -> Any:
        """An object (or, without a name, the list of them) as the API server stores it."""
        args = ["get", kind, "--output=json"]
        if name is not None:
            args.insert(2, name)
        if namespace is not None:
            args.append(f"--namespace={namespace}")
        result = self.kubectl(*args)
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        return document if name is not None else document["items"]


def main() -> int:
    for name, ensure in (("etcd", ensure_etcd), ("kubernetes", ensure_kubernetes)):
        started = time.monotonic()
        try:
            path = ensure()
        except ToolUnavailable as error:
            print(error, file=sys.stderr)
            return 1
        print(f"{name}: {path} ({time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
