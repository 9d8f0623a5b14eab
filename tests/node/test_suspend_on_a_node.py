"""A tenant suspended and resumed on a real node: the model pool goes away, one gateway replica
per agent refuses calls saying why, and resuming brings the pool and the answers back."""

from __future__ import annotations

import json

import pytest

from tests.node.calls import grpc_call
from tests.node.cluster import Node
from tests.node.conftest import Applied
from tests.node.kube import TENANT_NAMESPACE, get, items, service_ip

pytestmark = pytest.mark.node

TENANT = "acme"
AGENT = "receptionist"
#: KubeRay deletes the Ray pods after the RayService; the gateway rolls to its one replica.
SUSPEND_S = 300
#: Resuming: KubeRay starts the pool again and its models load; then the gateway warms up.
RESUME_S = 900


def _suspend(node: Node, value: bool) -> None:
    patch = json.dumps({"spec": {"suspend": value}})
    node.kubectl("patch", "tenant", TENANT, "--type=merge", "-p", patch)


def _one_refusing_replica(node: Node) -> bool:
    deployment = get(node, "deployment", f"{AGENT}-gateway")
    status = deployment.get("status", {})
    return (
        deployment["spec"].get("replicas") == 1
        and status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("replicas") == 1
        and status.get("updatedReplicas") == 1
        and status.get("readyReplicas") == 1
    )


def _answer(node: Node) -> str:
    target = f"{service_ip(node, f'{AGENT}-gateway')}:50051"
    outcome = grpc_call(target, f"{TENANT_NAMESPACE}/{AGENT}", [])
    return outcome.end_reason if not outcome.greeting else "greeted"


def test_suspend_removes_the_model_pool_refuses_calls_and_resume_brings_them_back(
    node: Node, applied: Applied
) -> None:
    assert items(node, "rayservices", TENANT_NAMESPACE), "the pool runs before"
    _suspend(node, True)
    try:
        node.wait_for(
            "the RayService deleted", lambda: not items(node, "rayservices", TENANT_NAMESPACE), 120
        )
        node.wait_for(
            "no Ray pod left",
            lambda: not items(node, "pods", TENANT_NAMESPACE, "-l", "ray.io/is-ray-node=yes"),
            SUSPEND_S,
        )
        node.wait_for("one gateway replica", lambda: _one_refusing_replica(node), SUSPEND_S)
        node.wait_for("calls refused", lambda: _answer(node) == "tenant_suspended", 60)
    finally:
        _suspend(node, False)
    node.wait_for("the RayService back", lambda: items(node, "rayservices", TENANT_NAMESPACE), 120)
    node.wait_for("calls answered again", lambda: _answer(node) == "greeted", RESUME_S)
