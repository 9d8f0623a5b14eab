"""An agent exposed on the real node: its routes rendered, its gateway answering the host.

No route implementation runs here (no registry to pull Envoy Gateway or ingress-nginx from),
so the call goes to the gateway Service with the external host in its `Host` header, as a
route implementation forwards it; TLS terminated by the gateway itself is another test's.
"""

from __future__ import annotations

import json
from functools import partial

import pytest
from websockets.exceptions import InvalidStatus

from tests.node.calls import ws_call
from tests.node.cluster import Node
from tests.node.conftest import Applied
from tests.node.kube import TENANT_NAMESPACE, condition, get, service_ip

pytestmark = pytest.mark.node

AGENT = "receptionist"
HOST = "receptionist.acme.example"
EXPOSURE = {
    "hostname": HOST,
    "parentRefs": [{"name": "public", "namespace": "gateways"}],
    "tls": {
        "secretName": "receptionist-tls",
        "issuerRef": {"name": "acme", "kind": "ClusterIssuer"},
    },
}
ROLLOUT_S = 300


def _patch_exposure(node: Node, exposure: object) -> None:
    node.kubectl("patch", "voiceagent", AGENT, "-n", TENANT_NAMESPACE, "--type=merge",
                 "-p", json.dumps({"spec": {"exposure": exposure}}))  # fmt: skip


def _rolled_out(node: Node) -> None:
    node.kubectl("rollout", "status", f"deployment/{AGENT}-gateway", "-n", TENANT_NAMESPACE,
                 f"--timeout={ROLLOUT_S}s", timeout=ROLLOUT_S + 20)  # fmt: skip


def _exists(node: Node, kind: str) -> bool:
    suffix = "-grpc" if kind == "backendtrafficpolicy" else ""
    return bool(get(node, kind, f"{AGENT}-gateway{suffix}"))


def _gone(node: Node, kind: str) -> bool:
    return not _exists(node, kind)


def _call_as_host(node: Node) -> str:
    url = f"ws://{HOST}:8080/v1/calls"
    outcome = ws_call(
        url, f"{TENANT_NAMESPACE}/{AGENT}", [], address=service_ip(node, f"{AGENT}-gateway")
    )
    return outcome.call_id


def test_an_exposed_agent_gets_routes_external_urls_and_a_gateway_that_answers_its_host(
    node: Node, applied: Applied
) -> None:
    with pytest.raises(InvalidStatus):  # before: the host is not the gateway's (421)
        _call_as_host(node)
    _patch_exposure(node, EXPOSURE)
    try:
        for kind in ("httproute", "grpcroute", "certificate", "backendtrafficpolicy"):
            node.wait_for(f"the {kind}", partial(_exists, node, kind), 60)
        http = get(node, "httproute", f"{AGENT}-gateway")
        assert http["spec"]["rules"][0]["backendRefs"][0]["port"] == 8080
        assert http["spec"]["rules"][0]["timeouts"] == {"request": "0s", "backendRequest": "0s"}
        assert (
            get(node, "grpcroute", f"{AGENT}-gateway")["spec"]["rules"][0]["backendRefs"][0]["port"]
            == 50051
        )
        node.wait_for(
            "the external URLs in status",
            lambda: (
                get(node, "voiceagent", AGENT)["status"]["endpoints"].get("websocket")
                == f"wss://{HOST}/v1/calls"
            ),
            60,
        )
        agent = get(node, "voiceagent", AGENT)
        assert agent["status"]["endpoints"]["grpc"] == f"{HOST}:443"
        assert condition(agent, "ExposureReady")["status"] == "True"
        _rolled_out(node)
        # kube-proxy follows the new pod's endpoints a moment after the rollout: retry a while.
        node.wait_for("a call naming the external host", lambda: _call_as_host(node), 60)
    finally:
        _patch_exposure(node, None)
    for kind in ("httproute", "grpcroute", "certificate", "backendtrafficpolicy"):
        node.wait_for(f"the {kind} deleted", partial(_gone, node, kind), 60)
    _rolled_out(node)
