"""Reading resources on the node through kubectl (JSON), for assertions and waits."""

from __future__ import annotations

import json
import socket
from typing import Any

from tests.node.cluster import Node

TENANT_NAMESPACE = "acme"


def get(node: Node, kind: str, name: str, namespace: str = TENANT_NAMESPACE) -> dict[str, Any]:
    """One resource as JSON ({} when it does not exist)."""
    out = node.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(out) if out.strip() else {}


def items(node: Node, kind: str, namespace: str, *selector: str) -> list[dict[str, Any]]:
    """Resources of a kind in a namespace (`-l` selectors allowed)."""
    out = node.kubectl("get", kind, "-n", namespace, *selector, "-o", "json")
    return list(json.loads(out)["items"])


def condition(resource: dict[str, Any], kind: str) -> dict[str, Any]:
    """The status condition of type `kind` ({} when absent)."""
    for found in resource.get("status", {}).get("conditions", []):
        if found["type"] == kind:
            return dict(found)
    return {}


def is_true(node: Node, kind: str, name: str, condition_type: str) -> bool:
    """Whether the resource's condition is True."""
    return condition(get(node, kind, name), condition_type).get("status") == "True"


def service_ip(node: Node, service: str, namespace: str = TENANT_NAMESPACE) -> str:
    """A Service's cluster IP (reachable from the node through kube-proxy)."""
    return str(get(node, "service", service, namespace)["spec"]["clusterIP"])


def pods_ready(pods: list[dict[str, Any]]) -> bool:
    """Every container of every pod is ready (and there is at least one pod)."""
    return bool(pods) and all(
        s["ready"] for p in pods for s in p.get("status", {}).get("containerStatuses", [])
    )


def _ready_pod_ips(node: Node, service: dict[str, Any], namespace: str) -> set[str]:
    selector = ",".join(f"{k}={v}" for k, v in service["spec"].get("selector", {}).items())
    pods = items(node, "pods", namespace, "-l", selector)
    return {
        p["status"]["podIP"]
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and p.get("status", {}).get("podIP")
        and pods_ready([p])
    }


def _endpoint_ips(node: Node, service: str, namespace: str) -> set[str]:
    slices = items(node, "endpointslices", namespace, "-l", f"kubernetes.io/service-name={service}")
    return {
        address
        for found in slices
        for endpoint in found.get("endpoints") or []
        if (endpoint.get("conditions") or {}).get("ready")
        for address in endpoint.get("addresses", [])
    }


#: Connections in a row through the cluster IP that must succeed before a Service counts as
#: routed: kube-proxy picks an endpoint at random, so one success can hide a stale rule.
ROUTED_CONNECTS = 6


def wait_until_routed(
    node: Node, service: str, port: int, namespace: str = TENANT_NAMESPACE, timeout: float = 120
) -> None:
    """Wait until the Service's ready endpoints are exactly its ready pods and its cluster IP
    connects `ROUTED_CONNECTS` times in a row. After a rollout the Deployment reports ready
    before the EndpointSlice controller and kube-proxy follow; a call in between reaches a
    deleted pod's address (CI saw `tcp handshaker shutdown` for 15 s and more)."""

    def routed() -> bool:
        found = get(node, "service", service, namespace)
        pod_ips = _ready_pod_ips(node, found, namespace)
        if not pod_ips or _endpoint_ips(node, service, namespace) != pod_ips:
            return False
        for _ in range(ROUTED_CONNECTS):
            with socket.create_connection((found["spec"]["clusterIP"], port), timeout=2):
                pass
        return True

    node.wait_for(f"Service {service} routing to its ready pods only", routed, timeout)
