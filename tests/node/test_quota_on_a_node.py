"""A tenant's call quota across two gateway replicas on a real node (call slots as Leases).

The tenant's `quotas.maxConcurrentCalls` goes to 1 and the receptionist to 2 gateway replicas:
one call held open on one replica, a second call is refused with `quota_exceeded` by either
replica (the slot is the tenant's, not the pod's), counted in its metric; after the hangup a call
is admitted again. The tenant and the agent are put back as they were.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import urllib.request
from typing import Any

import pytest
import yaml

from switchboard_gateway.scripted_caller import CallOutcome, scripted_call
from tests.node.calls import API_KEY, grpc_call
from tests.node.cluster import Node
from tests.node.conftest import Applied
from tests.node.kube import (
    TENANT_NAMESPACE,
    get,
    items,
    pods_ready,
    service_ip,
    wait_until_routed,
)

pytestmark = pytest.mark.node

AGENT = "receptionist"
TENANT = "acme"
SLOT_SELECTOR = f"switchboard.dev/call-slot-of={TENANT}"
#: A rollout of both gateway pods (config hash changed) on one 2-CPU node.
ROLLOUT_S = 300
#: A hung-up call's slot is deleted at once; a lost delete frees it when the lease expires (30 s).
RELEASE_S = 60


def _gateway_pods(node: Node) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/component=gateway,switchboard.dev/voice-agent={AGENT}"
    pods = items(node, "pods", TENANT_NAMESPACE, "-l", selector)
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def _quota_in_config(node: Node) -> int | None:
    config_map = get(node, "configmap", f"{AGENT}-config")
    config = yaml.safe_load(config_map.get("data", {}).get("gateway.yaml") or "{}") or {}
    quota = config.get("callQuota")
    return None if quota is None else int(quota["limit"])


def _rolled_out_with_quota(node: Node, limit: int) -> bool:
    deployment = get(node, "deployment", f"{AGENT}-gateway")
    status = deployment.get("status", {})
    pods = _gateway_pods(node)
    return (
        _quota_in_config(node) == limit
        and status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("updatedReplicas") == 2
        and status.get("readyReplicas") == 2
        and status.get("replicas") == 2
        and len(pods) == 2
        and pods_ready(pods)
    )


def _slot_holders(node: Node) -> list[str]:
    """Holders of the tenant's live slots (a lease past renewTime + duration is free)."""
    now = time.time()
    holders = []
    for lease in items(node, "leases", TENANT_NAMESPACE, "-l", SLOT_SELECTOR):
        spec = lease["spec"]
        renewed = dt.datetime.fromisoformat(spec["renewTime"].replace("Z", "+00:00")).timestamp()
        if renewed + spec["leaseDurationSeconds"] >= now:
            holders.append(str(spec.get("holderIdentity", "")))
    return holders


def _rejected(pod_ip: str) -> float:
    """`switchboard_calls_rejected_total{reason="quota_exceeded"}` of one gateway pod."""
    with urllib.request.urlopen(f"http://{pod_ip}:8080/metrics", timeout=10) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if (
            line.startswith("switchboard_calls_rejected_total{")
            and 'reason="quota_exceeded"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _merge(node: Node, kind: str, name: str, patch: dict[str, Any], namespace: str = "") -> None:
    scope = ["-n", namespace] if namespace else []
    node.kubectl("patch", kind, name, *scope, "--type=merge", "-p", json.dumps(patch))


def test_the_tenants_quota_holds_across_two_gateway_replicas(node: Node, applied: Applied) -> None:
    tenant = json.loads(node.kubectl("get", "tenant", TENANT, "-o", "json"))
    agent = get(node, "voiceagent", AGENT)
    saved_quota = tenant["spec"].get("quotas", {}).get("maxConcurrentCalls")
    saved_agent = {
        "replicas": agent["spec"].get("replicas"),
        "scaling": agent["spec"].get("scaling"),
    }
    _merge(node, "tenant", TENANT, {"spec": {"quotas": {"maxConcurrentCalls": 1}}})
    _merge(
        node,
        "voiceagent",
        AGENT,
        {"spec": {"replicas": 2, "scaling": {"gateway": {"backend": "none"}}}},
        TENANT_NAMESPACE,
    )
    try:
        node.wait_for(
            "two gateway replicas with a quota of 1",
            lambda: _rolled_out_with_quota(node, 1),
            ROLLOUT_S,
        )
        node.wait_for("no call slot held", lambda: not _slot_holders(node), RELEASE_S)
        wait_until_routed(node, f"{AGENT}-gateway", 50051)
        pods = {p["metadata"]["name"]: p["status"]["podIP"] for p in _gateway_pods(node)}
        target = f"{service_ip(node, f'{AGENT}-gateway')}:50051"

        async def scenario() -> tuple[CallOutcome, dict[str, CallOutcome], list[str]]:
            refused: dict[str, CallOutcome] = {}
            async with scripted_call(target, f"{TENANT}/{AGENT}", api_key=API_KEY) as caller:
                await caller.converse([], timeout_s=90)
                holders = await asyncio.to_thread(_slot_holders, node)
                for name, ip in pods.items():  # the holder's replica and the other one
                    refused[name] = await asyncio.to_thread(
                        grpc_call, f"{ip}:50051", f"{TENANT}/{AGENT}", []
                    )
            return CallOutcome.of(caller), refused, holders

        held, refused, holders = asyncio.run(scenario())

        assert held.call_id, held
        assert held.end_reason == "caller_hangup", (held.end_reason, held.end_detail)
        assert len(holders) == 1, holders
        holder_pod = holders[0].split("/", 1)[0]
        assert holder_pod in pods, (holders, pods)
        for name, outcome in refused.items():
            assert outcome.end_reason == "quota_exceeded", (name, outcome)
            assert not outcome.call_id, outcome
            assert "maxConcurrentCalls" in outcome.end_detail, outcome
            assert _rejected(pods[name]) >= 1
        node.wait_for(
            "the hung-up call's slot released", lambda: not _slot_holders(node), RELEASE_S
        )
        for name, ip in pods.items():
            again = grpc_call(f"{ip}:50051", f"{TENANT}/{AGENT}", [])
            assert again.call_id, (name, again)
            assert again.end_reason != "quota_exceeded", (name, again)
            node.wait_for("its slot released", lambda: not _slot_holders(node), RELEASE_S)
    finally:
        _merge(node, "tenant", TENANT, {"spec": {"quotas": {"maxConcurrentCalls": saved_quota}}})
        _merge(node, "voiceagent", AGENT, {"spec": saved_agent}, TENANT_NAMESPACE)
        node.wait_for(
            "the receptionist's gateway back to its own quota",
            lambda: _quota_in_config(node) == saved_quota,
            ROLLOUT_S,
        )
        node.kubectl(
            "rollout", "status", f"deployment/{AGENT}-gateway", "-n", TENANT_NAMESPACE,
            f"--timeout={ROLLOUT_S}s", timeout=ROLLOUT_S + 20,
        )  # fmt: skip
