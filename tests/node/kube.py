"""Reading resources on the node through kubectl (JSON), for assertions and waits."""

from __future__ import annotations

import json
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
