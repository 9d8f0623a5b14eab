"""Operator at scale: N VoiceAgents applied to a real kube-apiserver + etcd.

Starts the API server of the cluster test tier, installs the CRDs, runs the operator as a
subprocess (`python -m switchboard_operator`), creates one Tenant and then N agents from a
thread pool as fast as the API server takes them, and records for each agent the time from
its create call to (a) its gateway Deployment existing and (b) its status being written.
Prints p50/p95/max and the operator's peak RSS (VmHWM).

    python bench/operator_scale.py --agents 100 500
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, dynamic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.cluster.apiserver import running_apiserver
from tests.cluster.conftest import our_crd_files, upstream_crd_files, wait_established
from tests.ports import free_port

API = "switchboard.dev/v1alpha1"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _rss_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(count: int, api: client.ApiClient, kubeconfig: Path) -> dict[str, Any]:
    """Apply `count` agents with the operator running; return latency and memory figures."""
    dyn = dynamic.DynamicClient(api)  # type: ignore[no-untyped-call]
    ns = f"bench-{count}"
    env = os.environ | {
        "KUBECONFIG": str(kubeconfig),
        "SWITCHBOARD_OPERATOR_METRICS_PORT": "0",
        "SWITCHBOARD_OPERATOR_HEALTH_PORT": str(free_port()),
        "SWITCHBOARD_OPERATOR_RESYNC_SECONDS": "300",
        "SWITCHBOARD_OPERATOR_CALLS_POLL_SECONDS": "300",
    }
    operator = subprocess.Popen(
        [sys.executable, "-m", "switchboard_operator"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        tenants = dyn.resources.get(api_version=API, kind="Tenant")
        tenants.create(
            body={
                "apiVersion": API,
                "kind": "Tenant",
                "metadata": {"name": ns},
                "spec": {"namespace": {"name": ns}},
            }
        )
        core = client.CoreV1Api(api)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                core.read_namespace(ns)
                break
            except client.ApiException:
                time.sleep(0.2)
        agents = dyn.resources.get(api_version=API, kind="VoiceAgent")
        created: dict[str, float] = {}

        def create(i: int) -> None:
            name = f"agent-{i}"
            body = {
                "apiVersion": API,
                "kind": "VoiceAgent",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"prompt": {"system": "You are helpful."}},
            }
            agents.create(body=body, namespace=ns)
            created[name] = time.monotonic()

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(create, range(count)))
        children: dict[str, float] = {}
        status: dict[str, float] = {}
        apps = client.AppsV1Api(api)
        custom = client.CustomObjectsApi(api)
        deadline = time.monotonic() + 600
        while (len(children) < count or len(status) < count) and time.monotonic() < deadline:
            now = time.monotonic()
            for d in apps.list_namespaced_deployment(ns).items:
                name = str(d.metadata.name if d.metadata else "")
                children.setdefault(name.removesuffix("-gateway"), now)
            listed: Any = custom.list_namespaced_custom_object(
                "switchboard.dev", "v1alpha1", ns, "voiceagents"
            )
            for a in listed["items"]:
                if (a.get("status") or {}).get("observedGeneration"):
                    status.setdefault(a["metadata"]["name"], now)
            time.sleep(0.25)
        to_children = [children[n] - created[n] for n in created if n in children]
        to_status = [status[n] - created[n] for n in created if n in status]
        return {
            "agents": count,
            "children_p50": statistics.median(to_children),
            "children_p95": _percentile(to_children, 0.95),
            "children_max": max(to_children),
            "status_p50": statistics.median(to_status),
            "status_p95": _percentile(to_status, 0.95),
            "converged": f"{len(children)}/{count} children, {len(status)}/{count} status",
            "apply_window_s": max(created.values()) - min(created.values()),
            "operator_rss_peak_mib": _rss_peak_mib(operator.pid),
        }
    finally:
        operator.terminate()
        operator.wait(30)


def main() -> None:
    """Start the API server once, then measure each requested agent count."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, nargs="+", default=[100, 500])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work, running_apiserver(Path(work)) as server:
        api = config.new_client_from_config(config_file=str(server.kubeconfig))  # type: ignore[no-untyped-call]
        dyn = dynamic.DynamicClient(api)  # type: ignore[no-untyped-call]
        extensions = client.ApiextensionsV1Api(api)
        for path in [*our_crd_files(), *upstream_crd_files()]:
            manifest = yaml.safe_load(path.read_text())
            resource = dyn.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
            dyn.server_side_apply(  # type: ignore[no-untyped-call]
                resource, body=manifest, field_manager="bench", force_conflicts=True
            )
            wait_established(extensions, manifest["metadata"]["name"])
        for count in args.agents:
            result = run(
                count,
                config.new_client_from_config(config_file=str(server.kubeconfig)),  # type: ignore[no-untyped-call]
                server.kubeconfig,
            )
            print(
                " ".join(
                    f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in result.items()
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
