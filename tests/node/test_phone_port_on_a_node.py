"""A phone channel on a real node: the gateway pods open the phone port and the Service reaches it.

jambonz is enabled on the example receptionist (its basic-auth Secret created here): the pods
roll with the phone port, which answers `/healthz` through the gateway Service's `phone` port
(kube-proxy), and the status shows the jambonz URL. Disabling it rolls the port away again.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.node.cluster import Node
from tests.node.conftest import Applied
from tests.node.kube import TENANT_NAMESPACE, condition, get, service_ip

pytestmark = pytest.mark.node

AGENT = "receptionist"
GATEWAY = f"{AGENT}-gateway"
PHONE_PORT = 8090
SECRET = "jambonz-basic"  # noqa: S105 (a name)
ROLLOUT_S = 300


def _patch_channels(node: Node, channels: object) -> None:
    node.kubectl("patch", "voiceagent", AGENT, "-n", TENANT_NAMESPACE, "--type=merge",
                 "-p", json.dumps({"spec": {"channels": channels}}))  # fmt: skip


def _rolled_out(node: Node) -> None:
    node.kubectl("rollout", "status", f"deployment/{GATEWAY}", "-n", TENANT_NAMESPACE,
                 f"--timeout={ROLLOUT_S}s", timeout=ROLLOUT_S + 20)  # fmt: skip


def _phone_healthz(node: Node) -> str:
    url = f"http://{service_ip(node, GATEWAY)}:{PHONE_PORT}/healthz"
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _service_ports(node: Node) -> dict[str, int]:
    return {p["name"]: int(p["port"]) for p in get(node, "service", GATEWAY)["spec"]["ports"]}


def _container_ports(node: Node) -> set[str]:
    deployment = get(node, "deployment", GATEWAY)
    return {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}


def test_a_phone_channel_opens_the_phone_port_through_the_gateway_service(
    node: Node, applied: Applied
) -> None:
    node.kubectl("create", "secret", "generic", SECRET, "-n", TENANT_NAMESPACE,
                 "--from-literal=basic=jambonz:node-tier-password")  # fmt: skip
    jambonz = {"enabled": True, "basicAuthSecretRef": {"name": SECRET, "key": "basic"}}
    _patch_channels(node, {"jambonz": jambonz})
    try:
        node.wait_for("the phone Service port", lambda: "phone" in _service_ports(node), 60)
        assert _service_ports(node)["phone"] == PHONE_PORT
        node.wait_for("the phone container port", lambda: "phone" in _container_ports(node), 60)
        _rolled_out(node)
        # kube-proxy follows the new pods' endpoints a moment after the rollout: retry a while.
        node.wait_for("/healthz on the phone port", lambda: _phone_healthz(node) == "ok\n", 60)
        node.wait_for(
            "the jambonz URL in status",
            lambda: "jambonz" in get(node, "voiceagent", AGENT)["status"]["endpoints"],
            60,
        )
        agent = get(node, "voiceagent", AGENT)
        assert agent["status"]["endpoints"]["jambonz"] == (
            f"ws://{GATEWAY}.{TENANT_NAMESPACE}.svc:{PHONE_PORT}/v1/jambonz/{TENANT_NAMESPACE}/{AGENT}"
        )
        assert condition(agent, "ChannelsReady")["status"] == "True"
    finally:
        _patch_channels(node, {"jambonz": None})
        node.kubectl("delete", "secret", SECRET, "-n", TENANT_NAMESPACE, "--ignore-not-found")
    node.wait_for("the phone port closed", lambda: "phone" not in _service_ports(node), 60)
    _rolled_out(node)
