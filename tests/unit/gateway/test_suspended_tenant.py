"""A suspended tenant's gateway refuses every call and says why, on every transport."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from switchboard_api import Tenant, VoiceAgent
from switchboard_gateway import server
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.api_keys import KeyRing, hash_api_key
from switchboard_gateway.events import CallEndedEvent, EndReason, StartCall
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway
from switchboard_gateway.testing.calls import agent_config
from switchboard_gateway.transports.grpc.codec import outbound_from_proto, outbound_to_proto
from switchboard_gateway.transports.websocket.codec import outbound_to_json

pytestmark = pytest.mark.unit


def tenant(*, suspend: bool) -> Tenant:
    return Tenant.model_validate(
        {
            "apiVersion": "switchboard.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "test"},
            "spec": {"namespace": {"name": "test"}, "suspend": suspend},
        }
    )


def gateway(config: AgentConfig) -> Gateway:
    entry = AgentEntry(config, backend=None, keys=KeyRing(frozenset({hash_api_key("k" * 20)})))  # type: ignore[arg-type]
    return Gateway({config.key: entry})


def test_the_tenants_suspend_reaches_the_agent_config() -> None:
    agent = VoiceAgent.model_validate(
        {
            "apiVersion": "switchboard.dev/v1alpha1",
            "kind": "VoiceAgent",
            "metadata": {"name": "a", "namespace": "test"},
            "spec": {"prompt": {"system": "Be brief."}},
        }
    )
    assert AgentConfig.from_resource(agent, tenant(suspend=True)).suspended
    assert not AgentConfig.from_resource(agent, tenant(suspend=False)).suspended
    assert not AgentConfig.from_resource(agent).suspended


def test_a_suspended_tenants_call_is_refused_after_authentication_with_the_reason() -> None:
    config = dataclasses.replace(agent_config(), suspended=True)
    gate = gateway(config)

    forged = gate.admit(StartCall(agent=config.key, api_key="wrong"), "grpc")
    refused = gate.admit(StartCall(agent=config.key, api_key="k" * 20), "websocket")

    assert isinstance(forged, CallEndedEvent)
    assert forged.reason is EndReason.UNAUTHENTICATED  # suspension is not told to strangers
    assert isinstance(refused, CallEndedEvent)
    assert refused.reason is EndReason.TENANT_SUSPENDED
    assert "spec.suspend" in refused.detail
    metric = gate.metrics.value("switchboard_calls_rejected_total", reason="tenant_suspended")
    assert metric == 1
    resumed = gateway(dataclasses.replace(config, suspended=False))
    assert isinstance(
        resumed.admit(StartCall(agent=config.key, api_key="k" * 20), "grpc"), Admission
    )


def test_both_transports_carry_the_reason() -> None:
    ended = CallEndedEvent(EndReason.TENANT_SUSPENDED, "suspended")
    assert outbound_from_proto(outbound_to_proto(ended)) == ended
    assert json.loads(outbound_to_json(ended))["reason"] == "tenant_suspended"


def test_a_suspended_agent_needs_no_warm_up_to_be_ready_and_refuse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its model pool is deleted: warming it up would keep the new pod unready forever."""
    warmed: list[str] = []

    async def warm_up_agent(config: AgentConfig, backend: object) -> None:
        warmed.append(config.key)

    monkeypatch.setattr(server, "warm_up_agent", warm_up_agent)
    suspended = dataclasses.replace(agent_config(), suspended=True)
    running = dataclasses.replace(agent_config(), key="test/running")
    gate = Gateway(
        {
            suspended.key: AgentEntry(suspended, backend=None),  # type: ignore[arg-type]
            running.key: AgentEntry(running, backend=None),  # type: ignore[arg-type]
        }
    )
    gate.warm = False
    process = server.GatewayServer(None, gate, None, None, 0, 0)  # type: ignore[arg-type]
    ready: list[str] = []
    asyncio.run(process.warm_up(on_agent=ready.append))
    assert warmed == ["test/running"]
    assert ready == [suspended.key, "test/running"]
    assert gate.warm
