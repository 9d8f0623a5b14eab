"""Everything the examples promise, on a real node: the chart, KubeRay, gateways, spoken calls."""

from __future__ import annotations

import json
import time

import pytest

from tests.node.calls import grpc_call, spoken_turns, transcribe, ws_call
from tests.node.cluster import API_PORT, NODE_IP, NODE_NAME, Node
from tests.node.conftest import AGENTS, RELEASE_NAMESPACE, Applied
from tests.node.kube import TENANT_NAMESPACE, condition, get, items, pods_ready, service_ip

pytestmark = pytest.mark.node

#: What tests/cluster/build_binaries.sh builds and stamps into every binary.
KUBE_VERSION = "v1.34.4"


def test_the_node_and_the_api_server_report_their_real_version(node: Node) -> None:
    versions = json.loads(node.kubectl("version", "-o", "json"))
    assert versions["serverVersion"]["gitVersion"] == KUBE_VERSION
    assert versions["clientVersion"]["gitVersion"] == KUBE_VERSION
    info = json.loads(node.kubectl("get", "node", NODE_NAME, "-o", "json"))["status"]["nodeInfo"]
    assert info["kubeletVersion"] == KUBE_VERSION
    assert info["containerRuntimeVersion"].startswith("containerd://")


def test_the_operator_runs_in_its_pod_with_the_charts_least_privilege_rbac(
    node: Node, release: str
) -> None:
    assert "STATUS: deployed" in release
    pods = items(node, "pods", RELEASE_NAMESPACE, "-l", "app.kubernetes.io/name=switchboard")
    (pod,) = [p for p in pods if p["metadata"]["name"].startswith("switchboard-operator")]
    assert pod["spec"]["serviceAccountName"] == "switchboard-operator"
    assert pods_ready([pod])
    logs = node.kubectl("logs", "-n", RELEASE_NAMESPACE, pod["metadata"]["name"])
    assert "forbidden" not in logs.lower(), logs[-3000:]


def test_kuberay_serves_the_tenants_model_pool_and_the_agents_are_ready(
    node: Node, applied: Applied
) -> None:
    pool = get(node, "rayservice", "switchboard-models")
    assert condition(pool, "Ready").get("status") == "True", pool.get("status")
    assert pods_ready(items(node, "pods", TENANT_NAMESPACE, "-l", "ray.io/node-type=head"))
    for agent in AGENTS:
        resource = get(node, "voiceagent", agent)
        for kind in ("ModelsReady", "GatewayReady", "Ready"):
            assert condition(resource, kind).get("status") == "True", (agent, kind)
        assert resource["status"].get("endpoints"), resource["status"]
    assert condition(get(node, "voiceagent", "front-desk"), "KnowledgeReady")["status"] == "True"
    print(f"kubectl apply → every agent Ready: {applied.ready_s:.0f} s")


def test_the_tenants_policies_name_the_real_api_server_endpoint(
    node: Node, applied: Applied
) -> None:
    """Indexer Jobs and the Ray head's autoscaler may reach the API server, and only that."""
    for name in ("indexer-kube-api", "model-pool-kube-api"):
        (rule,) = get(node, "networkpolicy", name)["spec"]["egress"]
        assert rule["to"] == [{"ipBlock": {"cidr": f"{NODE_IP}/32"}}], rule
        assert rule["ports"] == [{"protocol": "TCP", "port": API_PORT}], rule


def test_a_spoken_call_over_grpc_through_the_gateway_service(node: Node, applied: Applied) -> None:
    turns = spoken_turns(["Hello, what are your opening hours?"])
    target = f"{service_ip(node, 'receptionist-gateway')}:50051"
    outcome = grpc_call(target, "acme/receptionist", turns)
    print(f"kubectl apply → a spoken turn answered: {time.monotonic() - applied.at:.0f} s")
    assert not outcome.unreachable, outcome
    assert not outcome.incomplete, outcome
    assert outcome.greeting.startswith("Hello, thanks for calling Acme Dental"), outcome.greeting
    assert "opening" in outcome.turns[0].caller.lower(), outcome.turns[0]
    assert outcome.turns[0].agent, outcome.turns[0]
    heard = transcribe(outcome.agent_audio).lower()
    assert "thanks for calling" in heard, heard
    assert len(heard.split()) >= 8, heard


def test_a_spoken_call_over_websocket_through_the_gateway_service(
    node: Node, applied: Applied
) -> None:
    turns = spoken_turns(["Can I book a cleaning next week?"])
    # The gateway answers only its own names (Host check): the Service's DNS name, reached at
    # its cluster IP (the node itself does not resolve cluster DNS).
    url = f"ws://receptionist-gateway.{TENANT_NAMESPACE}.svc:8080/v1/calls"
    outcome = ws_call(
        url, "acme/receptionist", turns, address=service_ip(node, "receptionist-gateway")
    )
    assert not outcome.incomplete, outcome
    assert "clean" in outcome.turns[0].caller.lower(), outcome.turns[0]
    assert outcome.turns[0].agent
    assert len(transcribe(outcome.agent_audio).split()) >= 5


def test_the_front_desk_answers_from_a_knowledge_base_indexed_by_a_job(
    node: Node, applied: Applied
) -> None:
    kb = get(node, "knowledgebase", "front-desk-faq")
    assert condition(kb, "IndexReady").get("status") == "True", kb.get("status")
    assert kb["status"]["chunks"] > 0
    assert kb["status"]["lastJob"]["result"] == "Succeeded"
    target = f"{service_ip(node, 'front-desk-gateway')}:50051"
    answers = []
    for _ in range(3):  # a 135M model: the fact is retrieved every time, said most times
        question = spoken_turns(["What is the emergency phone number?"])
        outcome = grpc_call(target, "acme/front-desk", question)
        assert not outcome.incomplete, outcome
        answers.append(outcome.turns[0].agent)
        if "555-0199" in answers[-1]:
            break
    assert any("555-0199" in a for a in answers), answers
