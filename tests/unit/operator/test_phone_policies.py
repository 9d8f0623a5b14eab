"""An agent's own NetworkPolicies: phone ingress, Twilio egress, recordings egress (what they mean)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from switchboard_api import Tenant, VoiceAgent
from switchboard_operator.reconcile.phone import sync_agent_policies
from switchboard_operator.reconcile.runtime import Runtime
from switchboard_operator.render.agent_network import agent_policies
from switchboard_operator.render.network import network_policies
from switchboard_operator.settings import OperatorSettings
from tests.unit.operator.netpol import External, Pod, admits, connects

pytestmark = pytest.mark.unit

OWNER = {"apiVersion": "x/v1", "kind": "VoiceAgent", "metadata": {"name": "front", "uid": "u-1"}}
SID = "AC" + "0123456789abcdef" * 2
TWILIO = {"enabled": True, "authTokenSecretRef": {"name": "t", "key": "k"}, "accountSid": SID}
JAMBONZ = {"enabled": True, "basicAuthSecretRef": {"name": "j", "key": "k"}}
SETTINGS = OperatorSettings(recordings_bucket="calls", recordings_secret="s3-creds")  # noqa: S106 (a name)

FRONT = Pod(
    "acme", {"app.kubernetes.io/component": "gateway", "switchboard.dev/voice-agent": "front"}
)
OTHER = Pod(
    "acme", {"app.kubernetes.io/component": "gateway", "switchboard.dev/voice-agent": "back"}
)
TWILIO_EDGE = External("54.172.60.1")  # a public address, as Twilio's are
METADATA = External("169.254.169.254")
PRIVATE = External("10.0.0.5")
MINIO = Pod("storage", {"app": "minio"})


def tenant(isolation: str = "strict") -> Tenant:
    return Tenant.model_validate(
        {
            "metadata": {"name": "acme"},
            "spec": {"namespace": {"name": "acme"}, "network": {"isolation": isolation}},
        }
    )


def agent(**channels: Any) -> VoiceAgent:
    return VoiceAgent.model_validate(
        {
            "metadata": {"name": "front", "namespace": "acme"},
            "spec": {"prompt": {"system": "Be brief."}, "channels": channels},
        }
    )


def everything(
    voice_agent: VoiceAgent, settings: OperatorSettings = SETTINGS, *, recorded: bool = False
) -> list[dict[str, Any]]:
    """The tenant's policies and the agent's, as the namespace would hold them."""
    tenant_policies = network_policies(tenant(), OWNER, settings)
    own = agent_policies(voice_agent, tenant(), OWNER, settings, recorded=recorded)
    return [*tenant_policies, *own]


def test_the_phone_port_admits_anyone_only_with_a_phone_channel() -> None:
    for phone in (agent(twilio=TWILIO), agent(jambonz=JAMBONZ)):
        policies = everything(phone)
        assert admits(policies, FRONT, TWILIO_EDGE, 8090)
        assert admits(policies, FRONT, Pod("jambonz", {"app": "feature-server"}), 8090)
        assert not admits(policies, FRONT, TWILIO_EDGE, 9090)  # only that port
        assert not admits(policies, OTHER, TWILIO_EDGE, 8090)  # only this agent's pods
    assert not admits(everything(agent()), FRONT, TWILIO_EDGE, 8090)


def test_twilio_rest_egress_is_public_https_only_and_only_with_an_account() -> None:
    policies = everything(agent(twilio=TWILIO))
    assert connects(policies, FRONT, TWILIO_EDGE, 443)
    assert not connects(policies, FRONT, TWILIO_EDGE, 80)
    assert not connects(policies, FRONT, METADATA, 443)
    assert not connects(policies, FRONT, PRIVATE, 443)
    assert not connects(policies, OTHER, TWILIO_EDGE, 443)
    no_account = {k: v for k, v in TWILIO.items() if k != "accountSid"}
    assert not connects(everything(agent(twilio=no_account)), FRONT, TWILIO_EDGE, 443)
    assert not connects(everything(agent(jambonz=JAMBONZ)), FRONT, TWILIO_EDGE, 443)  # connects in


def test_recordings_egress_goes_to_aws_s3_on_443_when_no_endpoint_is_set() -> None:
    policies = everything(agent(), recorded=True)
    assert connects(policies, FRONT, External("52.216.1.1"), 443)
    assert not connects(policies, FRONT, METADATA, 443)
    assert not connects(policies, FRONT, PRIVATE, 443)
    assert not connects(everything(agent()), FRONT, External("52.216.1.1"), 443)


def test_recordings_egress_follows_a_cluster_or_private_endpoint_to_its_port() -> None:
    in_cluster = SETTINGS.model_copy(
        update={"recordings_endpoint_url": "http://minio.storage.svc.cluster.local:9000"}
    )
    policies = everything(agent(), in_cluster, recorded=True)
    assert connects(policies, FRONT, MINIO, 9000)
    assert not connects(policies, FRONT, MINIO, 9001)
    assert not connects(policies, FRONT, External("52.216.1.1"), 443)
    private = SETTINGS.model_copy(update={"recordings_endpoint_url": "https://10.0.0.5:9443"})
    policies = everything(agent(), private, recorded=True)
    assert connects(policies, FRONT, PRIVATE, 9443)
    assert not connects(policies, FRONT, External("10.0.0.6"), 9443)


def test_no_agent_policies_without_tenant_isolation() -> None:
    assert (
        agent_policies(agent(twilio=TWILIO), tenant("none"), OWNER, SETTINGS, recorded=True) == []
    )


def test_the_agent_policies_carry_no_tenant_label_so_the_tenant_prune_keeps_them() -> None:
    policies = agent_policies(agent(twilio=TWILIO), tenant(), OWNER, SETTINGS, recorded=True)
    assert [p["metadata"]["name"] for p in policies] == [
        "front-gateway-phone",
        "front-gateway-twilio",
        "front-gateway-recordings",
    ]
    for policy in policies:
        assert "switchboard.dev/tenant" not in policy["metadata"]["labels"]
        assert policy["metadata"]["ownerReferences"][0]["uid"] == "u-1"


class FakeKube:
    def __init__(self) -> None:
        self.applied: list[str] = []
        self.deleted: list[str] = []

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.applied.append(manifest["metadata"]["name"])
        return manifest

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        assert kind == "NetworkPolicy"
        assert namespace == "acme"
        self.deleted.append(name)


def test_policies_no_longer_rendered_are_deleted() -> None:
    kube = FakeKube()
    runtime = cast(Runtime, SimpleNamespace(kube=kube, settings=SETTINGS))
    asyncio.run(
        sync_agent_policies(runtime, agent(jambonz=JAMBONZ), tenant(), OWNER, recorded=False)
    )
    assert kube.applied == ["front-gateway-phone"]
    assert kube.deleted == ["front-gateway-twilio", "front-gateway-recordings"]
