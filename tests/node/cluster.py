"""A real single-node Kubernetes cluster on this machine: control plane, kubelet, containerd.

Built after ../shared/design/REAL_CLUSTER.md: binaries from Go modules (tests/cluster/
build_binaries.sh --node), containerd + runc + CNI plugins from Debian, CoreDNS on the host in
front of a selector-less `kube-dns` Service. The node lives on its own bridge (`sb-node0`,
10.77.0.1): the kubelet refuses a loopback node address and this kernel has no dummy links.

`running_node()` holds a machine-wide lock (one cluster per machine: fixed addresses, ports and
host changes), cleans up after a run that was killed, and always tears everything down.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.node import configs, host
from tests.node.pki import make_pki
from tests.node.processes import Processes
from tests.tools import cache_dir

NODE_NAME = "switchboard-node"
NODE_IP = configs.NODE_IP
API_PORT = configs.API_PORT
SERVER = f"https://{NODE_IP}:{API_PORT}"
LOCK_WAIT_S = 1800
NODE_BINARIES = (
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
    "kube-proxy", "kubectl", "coredns", "ray-operator",
)  # fmt: skip


class NodeUnavailableError(RuntimeError):
    """This machine cannot run the node tier, or the cluster did not come up; says why."""


def binaries() -> Path:
    """Where build_binaries.sh --node puts the cluster's binaries."""
    return cache_dir() / "bin"


def preflight() -> list[str]:
    """What is missing on this machine to run a node (empty: nothing)."""
    missing = [] if os.geteuid() == 0 else ["root"]
    for tool in ("containerd", "runc", "ctr", "iptables", "nft", "ip", "conntrack"):
        if shutil.which(tool) is None:
            missing.append(tool)
    if not Path("/usr/lib/cni/bridge").exists():
        missing.append("containernetworking-plugins (/usr/lib/cni/bridge)")
    for name in NODE_BINARIES:
        if not (binaries() / name).exists():
            missing.append(f"{binaries() / name} (tests/cluster/build_binaries.sh --node)")
    return missing


class Node:
    """A running single-node cluster and the commands to drive it."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.state = work / "state"
        self.logs = work / "logs"
        self.pki = make_pki(work / "pki", NODE_NAME, NODE_IP, configs.KUBERNETES_SERVICE_IP, SERVER)
        self.kubeconfig = self.pki.path("admin.kubeconfig")
        self.socket = self.state / "containerd" / "containerd.sock"
        self.processes = Processes(self.state / "pids", self.logs)

    def kubectl(
        self, *args: str, timeout: float = 120, check: bool = True, input_text: str | None = None
    ) -> str:
        """Run kubectl against the node as cluster admin; return its standard output."""
        done = subprocess.run(
            [str(binaries() / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            input=input_text,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def ctr(self, *args: str, timeout: float = 600) -> str:
        """Run `ctr` in the kubelet's containerd namespace."""
        done = subprocess.run(
            ["ctr", "--address", str(self.socket), "-n", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return done.stdout

    def import_image(self, archive: Path) -> None:
        """Make a locally built image available to the kubelet (pods use imagePullPolicy Never)."""
        self.ctr("images", "import", "--all-platforms", str(archive))

    def wait_for(self, what: str, check: Callable[[], object], timeout: float) -> None:
        """Poll `check()` until it is true; fail naming `what` with the components' log tails."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                last = str(error)[-500:]
            time.sleep(0.5)
        raise NodeUnavailableError(
            f"{what}: not after {timeout:.0f} s ({last})\n{self.processes.log_tails()}"
        )

    def describe_failures(self) -> str:
        """Pods that are not ready, with their recent events and log tails (for a failure)."""
        pods = self.kubectl(
            "get", "pods", "-A", "-o", "wide", "--no-headers", check=False
        ).splitlines()
        lines = ["pods:", *pods]
        for row in pods:
            namespace, name, ready = row.split()[:3]
            done, want = ready.split("/")
            if done != want:
                lines.append(
                    self.kubectl("describe", "pod", "-n", namespace, name, check=False)[-2500:]
                )
                lines.append(
                    self.kubectl(
                        "logs", "-n", namespace, name, "--all-containers", "--tail=30", check=False
                    )
                )
        return "\n".join(lines)

    # -- start ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Bring up the network, containerd, the control plane, the kubelet, kube-proxy and DNS."""
        self._network()
        self._containerd()
        bins = binaries()
        state = self.state
        self.processes.start("etcd", configs.etcd_command(bins, state))
        self.processes.start("kube-apiserver", configs.apiserver_command(bins, state, self.pki))
        self.wait_for("the API server", self._api_ready, 90)
        self.processes.start("kube-controller-manager", configs.kcm_command(bins, self.pki))
        self.processes.start("kube-scheduler", configs.scheduler_command(bins, self.pki))
        kubelet_config = configs.write_kubelet_config(self.work, state, self.pki, self.socket)
        self.processes.start(
            "kubelet", configs.kubelet_command(bins, state, self.pki, kubelet_config, NODE_NAME)
        )
        self.processes.start(
            "kube-proxy",
            configs.proxy_command(bins, configs.write_proxy_config(self.work, self.pki)),
        )
        self.processes.start("coredns", configs.coredns_command(bins, self.work, self.pki))
        self.wait_for("the node Ready", self._node_ready, 120)
        self.kubectl("apply", "-f", str(configs.write_dns_service(self.work)))
        self.wait_for(
            "the default ServiceAccount",
            lambda: self.kubectl("get", "serviceaccount", "default", check=False),
            60,
        )

    def start_kuberay(self, crd_dir: Path) -> None:
        """KubeRay's CRDs (server-side, as its docs say) and its operator as a host process."""
        self.kubectl("apply", "--server-side", "-f", str(crd_dir))
        self.wait_crds_established()
        self.processes.start("ray-operator", configs.kuberay_command(binaries(), self.kubeconfig))

    def wait_crds_established(self, timeout: float = 90) -> None:
        """Every CRD Established. A CRD created a moment ago has no conditions yet, on which
        `kubectl wait` fails at once ("accessor error: <nil>") instead of waiting: ask again."""
        self.wait_for(
            "every CRD Established",
            lambda: self.kubectl(
                "wait", "--for=condition=Established", "crd", "--all", "--timeout=15s", timeout=30
            ),
            timeout,
        )

    def _network(self) -> None:
        subprocess.run(["ip", "link", "add", host.NODE_BRIDGE, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", f"{NODE_IP}/32", "dev", host.NODE_BRIDGE], check=True)
        subprocess.run(["ip", "link", "set", host.NODE_BRIDGE, "up"], check=True)
        configs.write_cni_config(self.work, self.state)

    def _containerd(self) -> None:
        default = subprocess.run(
            ["containerd", "config", "default"], capture_output=True, text=True, check=True
        ).stdout
        config = configs.write_containerd_config(self.work, self.state, default)
        self.processes.start("containerd", ["containerd", "--config", str(config)])
        self.wait_for("containerd", self.socket.exists, 30)

    def _api_ready(self) -> bool:
        return self.kubectl("get", "--raw", "/readyz", check=False).strip() == "ok"

    def _node_ready(self) -> bool:
        status = self.kubectl(
            "get",
            "node",
            NODE_NAME,
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
            check=False,
        )
        return status.strip() == "True"

    # -- stop ----------------------------------------------------------------------------------

    def stop(self) -> list[str]:
        """Stop everything and undo every host change; return what could not be undone."""
        if self.processes.alive("kubelet") and self.processes.alive("kube-apiserver"):
            # No controller may replace what is deleted; the kubelet then tears the pods
            # down itself (CNI DEL for each sandbox) while it still runs.
            for name in ("ray-operator", "kube-controller-manager", "kube-scheduler"):
                self.processes.stop(name)
            self.kubectl(
                "delete", "pods", "--all", "--all-namespaces", "--grace-period=1",
                "--wait=true", "--timeout=30s", timeout=60, check=False,
            )  # fmt: skip
        return teardown(self.work)


def teardown(work: Path) -> list[str]:
    """Undo a run under `work`, whether it ended well, failed, or was killed long ago."""
    state = work / "state"
    socket = state / "containerd" / "containerd.sock"
    processes = Processes(state / "pids", work / "logs")
    for name in ("ray-operator", "coredns", "kube-proxy", "kubelet", "kube-scheduler"):
        processes.stop(name)
    for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
        processes.stop(name)
    if socket.exists() and processes.alive("containerd"):
        ctr = ["ctr", "--address", str(socket), "-n", "k8s.io"]
        tasks = subprocess.run([*ctr, "tasks", "ls", "-q"], capture_output=True, text=True)
        for task in tasks.stdout.split():
            subprocess.run([*ctr, "tasks", "kill", "-s", "KILL", task], capture_output=True)
    processes.stop("containerd")
    host.kill_matching(f"-address {socket}")
    host.unmount_under(str(work), "/run/netns", "/var/run/netns", "/run/containerd")
    problems = host.restore(work / "host-baseline.json")
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(state)
    return problems


@contextlib.contextmanager
def machine_lock(path: Path, timeout: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold an exclusive lock on `path`: one node cluster per machine at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise NodeUnavailableError(f"{path} held by another run") from None
                time.sleep(2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def running_node(work: Path | None = None) -> Iterator[Node]:
    """Start a node under `work` (default: the cache); always tear it down."""
    missing = preflight()
    if missing:
        raise NodeUnavailableError(f"cannot run a node here, missing: {', '.join(missing)}")
    work = work or cache_dir() / "node"
    with machine_lock(cache_dir() / "node.lock"):
        leftovers = teardown(work)  # a run killed before it could clean up
        if leftovers:
            raise NodeUnavailableError(f"a previous run left: {leftovers}")
        host.record_baseline(work / "host-baseline.json")
        node: Node | None = None
        try:
            node = Node(work)
            node.start()
            yield node
        finally:
            with signals_held():
                problems = node.stop() if node is not None else teardown(work)
            if problems:
                raise NodeUnavailableError(f"teardown left: {problems}")


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends: a second Ctrl-C (or a `timeout` wrapper
    forwarding its SIGTERM) must not cut a teardown short and leave the host half changed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {
        number: signal.signal(number, lambda signum, _frame: pending.append(signum))
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if pending:
            signal.raise_signal(pending[0])
