"""TLS on a real node, terminated by the gateway itself (no route implementation runs here):
a `kubernetes.io/tls` Secret signed by a test CA for the gateway Service's DNS name, spoken
calls over gRPC-TLS and WSS to the Service with that CA trusted, then back to plain text."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from pathlib import Path

import pytest

from switchboard_gateway.scripted_caller import CallOutcome
from switchboard_gateway.scripted_caller.over_grpc import run_call
from tests.node.calls import API_KEY, REPLY_TIMEOUT_S, grpc_call, spoken_turns, ws_call
from tests.node.cluster import Node
from tests.node.conftest import Applied
from tests.node.kube import TENANT_NAMESPACE, get, service_ip
from tests.tls_certs import TestCa

pytestmark = pytest.mark.node

AGENT = "receptionist"
GATEWAY = f"{AGENT}-gateway"
SERVICE_NAME = f"{GATEWAY}.{TENANT_NAMESPACE}.svc"
TLS_SECRET = f"{AGENT}-tls"
#: A rollout of the gateway: a new pod warms its models up (the greeting) before it is ready.
ROLLOUT_S = 300


def _rolled_out(node: Node, generation: int) -> bool:
    """Every gateway pod runs the template of `generation` or later, and is ready."""
    deployment = get(node, "deployment", GATEWAY)
    status = deployment.get("status", {})
    replicas = status.get("replicas", 0)
    return (
        status.get("observedGeneration", 0) >= generation
        and deployment["metadata"]["generation"] >= generation
        and replicas >= 1
        and status.get("updatedReplicas", 0) == replicas
        and status.get("readyReplicas", 0) == replicas
    )


def _patch_tls(node: Node, secret: str | None) -> None:
    """Set (or with None remove) `spec.gateway.tls`, then wait until every pod runs it."""
    generation = get(node, "deployment", GATEWAY)["metadata"]["generation"]
    tls = {"secretName": secret} if secret is not None else None
    patch = {"spec": {"gateway": {"tls": tls}}}
    node.kubectl("patch", "voiceagent", AGENT, "-n", TENANT_NAMESPACE, "--type=merge",
                 "-p", json.dumps(patch))  # fmt: skip
    node.wait_for(
        "the new gateway template applied",
        lambda: get(node, "deployment", GATEWAY)["metadata"]["generation"] > generation,
        120,
    )
    new = get(node, "deployment", GATEWAY)["metadata"]["generation"]
    node.wait_for("the gateway rolled out", lambda: _rolled_out(node, new), ROLLOUT_S)


def _wss_call(address: str, context: ssl.SSLContext, text: str) -> CallOutcome:
    """A spoken call over WSS to the Service's name, connecting to `address` (its cluster IP)."""
    url = f"wss://{SERVICE_NAME}:8080/v1/calls"
    agent = f"{TENANT_NAMESPACE}/{AGENT}"
    return ws_call(url, agent, spoken_turns([text]), address=address, tls=context)


def test_spoken_calls_over_grpc_tls_and_wss_reach_the_gateway_through_its_service(
    node: Node, applied: Applied
) -> None:
    ca = TestCa("switchboard-node-tls-test")
    directory = node.work / "gateway-tls"
    directory.mkdir(exist_ok=True)
    names = (SERVICE_NAME, f"{GATEWAY}.{TENANT_NAMESPACE}", f"{SERVICE_NAME}.cluster.local")
    ca.issue(*names).write(directory / "tls.crt", directory / "tls.key")
    ca_file: Path = ca.write(directory / "ca.crt")
    node.kubectl("create", "secret", "tls", TLS_SECRET, "-n", TENANT_NAMESPACE,
                 f"--cert={directory / 'tls.crt'}", f"--key={directory / 'tls.key'}")  # fmt: skip
    try:
        _patch_tls(node, TLS_SECRET)
        endpoints = get(node, "voiceagent", AGENT)["status"]["endpoints"]
        assert endpoints["grpc"] == f"grpcs://{SERVICE_NAME}:50051"
        assert endpoints["websocket"] == f"wss://{SERVICE_NAME}:8080/v1/calls"
        address = service_ip(node, GATEWAY)
        trusting = ssl.create_default_context(cafile=str(ca_file))

        def handshakes() -> bool:
            with (
                socket.create_connection((address, 8080), timeout=5) as raw,
                trusting.wrap_socket(raw, server_hostname=SERVICE_NAME),
            ):
                return True

        # kube-proxy follows the new pods' endpoints a moment after the rollout.
        node.wait_for("a TLS handshake with the gateway Service", handshakes, 60)
        over_grpc = asyncio.run(
            run_call(
                f"grpcs://{address}:50051",
                f"{TENANT_NAMESPACE}/{AGENT}",
                spoken_turns(["Hi, what are your opening hours?"]),
                api_key=API_KEY,
                timeout=REPLY_TIMEOUT_S,
                ca_file=ca_file,
                server_name=SERVICE_NAME,
            )
        )
        assert "Acme Dental" in over_grpc.greeting, over_grpc
        assert over_grpc.turns, over_grpc
        assert over_grpc.turns[0].agent, over_grpc
        assert over_grpc.end_reason == "caller_hangup", (over_grpc.end_reason, over_grpc.end_detail)

        over_wss = _wss_call(
            address, ssl.create_default_context(cafile=str(ca_file)), "Can I book a cleaning?"
        )
        assert "Acme Dental" in over_wss.greeting, over_wss
        assert over_wss.turns, over_wss
        assert over_wss.turns[0].agent, over_wss

        # Plain text to the TLS port, or a client that does not trust the CA: no call.
        plain = grpc_call(f"{address}:50051", f"{TENANT_NAMESPACE}/{AGENT}", [])
        assert plain.unreachable, plain
        with pytest.raises(ssl.SSLCertVerificationError):
            _wss_call(address, ssl.create_default_context(), "Hello?")
    finally:
        _patch_tls(node, None)
        node.kubectl("delete", "secret", TLS_SECRET, "-n", TENANT_NAMESPACE, check=False)
    address = service_ip(node, GATEWAY)

    def plain_again() -> bool:
        again = grpc_call(f"{address}:50051", f"{TENANT_NAMESPACE}/{AGENT}", [])
        return "Acme Dental" in again.greeting

    # kube-proxy follows the new pods' endpoints a moment after the rollout: retry a while.
    node.wait_for("plain text again once tls is removed", plain_again, 60)
