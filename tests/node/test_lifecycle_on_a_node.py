"""Day-2 on a real node: `helm test`, a gateway rollout under a live call, the operator's pod lost."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import time

import pytest

from switchboard_gateway.scripted_caller import CallOutcome, Turn, scripted_call
from tests.node.calls import API_KEY, grpc_call
from tests.node.cluster import Node
from tests.node.conftest import RELEASE_NAMESPACE, TENANT_KEYS_SECRET, Applied
from tests.node.kube import TENANT_NAMESPACE, get, is_true, items, pods_ready, service_ip
from tests.tools import helm_command

pytestmark = pytest.mark.node

#: The kubelet refreshes a mounted Secret on its pod sync (up to about a minute); the gateway
#: re-reads its key files every 5 s.
KEY_ROTATION_S = 180


def test_helm_test_places_a_call_through_the_receptionist(node: Node, applied: Applied) -> None:
    done = subprocess.run(
        helm_command(
            "test", "switchboard", "--namespace", RELEASE_NAMESPACE, "--logs",
            "--timeout", "5m", "--kubeconfig", str(node.kubeconfig),
        ),
        capture_output=True, text=True, timeout=360, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Phase:          Succeeded" in done.stdout, done.stdout[-3000:]
    # `--logs` shows the scripted call's outcome (the pod stays until the next `helm test`).
    assert '"callId"' in done.stdout, done.stdout[-3000:]


def _gateway_pods(node: Node) -> list[str]:
    selector = "app.kubernetes.io/component=gateway,switchboard.dev/voice-agent=receptionist"
    pods = items(node, "pods", TENANT_NAMESPACE, "-l", selector)
    return sorted(p["metadata"]["name"] for p in pods)


def test_a_gateway_rollout_during_a_call_cuts_no_call(node: Node, applied: Applied) -> None:
    target = f"{service_ip(node, 'receptionist-gateway')}:50051"
    before = _gateway_pods(node)
    generation = get(node, "deployment", "receptionist-gateway")["metadata"]["generation"]

    def rolled_out() -> bool:
        deployment = get(node, "deployment", "receptionist-gateway")
        status = deployment.get("status", {})
        return (
            deployment["metadata"]["generation"] > generation
            and status.get("updatedReplicas", 0) >= 1
            and status.get("readyReplicas", 0) >= 1
        )

    async def scenario() -> tuple[CallOutcome, list[str]]:
        async with scripted_call(target, "acme/receptionist", api_key=API_KEY) as caller:
            await caller.converse([], timeout_s=90)
            patch = {"spec": {"prompt": {"variables": {"company": "Acme Dental Care"}}}}
            await asyncio.to_thread(
                node.kubectl, "patch", "voiceagent", "receptionist", "-n", TENANT_NAMESPACE,
                "--type=merge", "-p", json.dumps(patch),
            )  # fmt: skip
            await asyncio.to_thread(node.wait_for, "the new gateway pod ready", rolled_out, 300)
            during = await asyncio.to_thread(_gateway_pods, node)
            await caller.converse([Turn(text="Are you still there?")], timeout_s=90)
        return CallOutcome.of(caller), during

    outcome, during = asyncio.run(scenario())
    assert before
    assert set(during) - set(before), "no new gateway pod came up"
    assert outcome.turns[0].agent, outcome
    assert outcome.end_reason == "caller_hangup", (outcome.end_reason, outcome.end_detail)
    assert "Acme Dental" in outcome.greeting
    # The draining pod goes once its call ended; new calls get the new configuration.
    node.wait_for(
        "the old gateway pod gone", lambda: not set(before) & set(_gateway_pods(node)), 180
    )


def test_the_operator_pod_deleted_mid_reconcile_converges(node: Node, applied: Applied) -> None:
    manifest = json.loads(node.kubectl("get", "voiceagent", "receptionist", "-n",
                                       TENANT_NAMESPACE, "-o", "json"))  # fmt: skip
    second = {
        "apiVersion": manifest["apiVersion"],
        "kind": "VoiceAgent",
        "metadata": {"name": "receptionist-two", "namespace": TENANT_NAMESPACE},
        "spec": manifest["spec"],
    }
    (operator,) = [
        p["metadata"]["name"]
        for p in items(node, "pods", RELEASE_NAMESPACE, "-l", "app.kubernetes.io/name=switchboard")
        if p["metadata"]["name"].startswith("switchboard-operator")
    ]
    node.kubectl("apply", "-f", "-", input_text=json.dumps(second))
    time.sleep(1)  # the operator has begun: finalizer, children being applied
    node.kubectl("delete", "pod", operator, "-n", RELEASE_NAMESPACE, "--wait=false")
    node.wait_for(
        "receptionist-two Ready after the operator's restart",
        lambda: is_true(node, "voiceagent", "receptionist-two", "Ready"),
        300,
    )
    operators = items(node, "pods", RELEASE_NAMESPACE, "-l", "app.kubernetes.io/name=switchboard")
    assert operator not in {p["metadata"]["name"] for p in operators}
    assert pods_ready([p for p in operators if p["metadata"]["name"].startswith("switchboard-op")])
    node.kubectl("delete", "voiceagent", "receptionist-two", "-n", TENANT_NAMESPACE,
                 "--timeout=120s", timeout=150)  # fmt: skip
    assert not get(node, "deployment", "receptionist-two-gateway")


def _uids(node: Node) -> dict[str, str]:
    selector = "app.kubernetes.io/component=gateway,switchboard.dev/voice-agent=receptionist"
    return {
        p["metadata"]["name"]: p["metadata"]["uid"]
        for p in items(node, "pods", TENANT_NAMESPACE, "-l", selector)
    }


def test_callers_need_the_tenants_key_and_a_rotated_key_takes_over_without_a_rollout(
    node: Node, applied: Applied
) -> None:
    """Last in the tier: it rotates the key every other test uses (and puts it back)."""
    target = f"{service_ip(node, 'receptionist-gateway')}:50051"
    for key in ("", "forged-" + API_KEY[7:], API_KEY + "x"):
        refused = grpc_call(target, "acme/receptionist", [], api_key=key)
        assert refused.end_reason == "unauthenticated", refused
        assert not refused.call_id
    pods = _uids(node)
    new_key = secrets.token_hex(24)

    def answers(key: str) -> bool:
        return bool(grpc_call(target, "acme/receptionist", [], api_key=key).call_id)

    def set_keys(value: str) -> None:
        data = {"keys": base64.b64encode(value.encode()).decode()}
        node.kubectl("patch", "secret", TENANT_KEYS_SECRET, "-n", TENANT_NAMESPACE,
                     "--type=merge", "-p", json.dumps({"data": data}))  # fmt: skip

    started = time.monotonic()
    set_keys(new_key)  # the old key revoked, the new one issued
    try:
        node.wait_for("the new key accepted", lambda: answers(new_key), KEY_ROTATION_S)
        node.wait_for("the old key refused", lambda: not answers(API_KEY), KEY_ROTATION_S)
        print(f"API key rotated in {time.monotonic() - started:.0f} s, no pod restarted")
        assert _uids(node) == pods  # no rollout: the same pods, re-reading their mounted keys
    finally:
        set_keys(API_KEY)
