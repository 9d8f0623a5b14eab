"""A gateway with a tenant quota: calls take a slot before they start and give it back at the end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from switchboard_api.gateway import CallQuotaConfig, GatewayConfig
from switchboard_gateway.events import (
    CallEndedEvent,
    CallerHangup,
    EndReason,
    InboundEvent,
    OutboundEvent,
    StartCall,
)
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway
from switchboard_gateway.quota import call_slots
from switchboard_gateway.quota.kube import KubeLeases
from switchboard_gateway.quota.slots import CallSlots
from switchboard_gateway.testing.calls import agent_config
from switchboard_gateway.transports.grpc.codec import outbound_from_proto, outbound_to_proto
from switchboard_gateway.transports.websocket.codec import outbound_to_json
from tests.unit.gateway.quota.fake_leases import FakeLeases

pytestmark = pytest.mark.unit

CONFIG = agent_config(prompt={"system": "Test."})  # no greeting: no model is asked


def gateway(api: FakeLeases, limit: int, **slots: float) -> Gateway:
    entry = AgentEntry(CONFIG, backend=None)  # type: ignore[arg-type]
    quota = CallSlots(api, limit, "acme", identity="gw-0", **slots)  # type: ignore[arg-type]
    return Gateway({CONFIG.key: entry}, slots=quota)


async def _silent() -> AsyncIterator[InboundEvent]:
    await asyncio.Event().wait()
    yield  # type: ignore[misc]  # pragma: no cover


async def _hangs_up_after(event: asyncio.Event) -> AsyncIterator[InboundEvent]:
    await event.wait()
    yield CallerHangup()


class Caller:
    """One call through `run_call`, and what it heard."""

    def __init__(self, gate: Gateway, inbound: AsyncIterator[InboundEvent]) -> None:
        self.heard: list[OutboundEvent] = []
        admission = gate.admit(StartCall(agent=CONFIG.key), "grpc")
        assert isinstance(admission, Admission), admission
        self.task = asyncio.create_task(
            gate.run_call(admission, StartCall(agent=CONFIG.key), self.deliver, inbound)
        )

    async def deliver(self, event: OutboundEvent) -> None:
        self.heard.append(event)


def test_the_call_over_the_quota_is_refused_with_the_reason_and_counted() -> None:
    api = FakeLeases()
    gate = gateway(api, 1)

    async def scenario() -> tuple[Caller, CallEndedEvent]:
        first = Caller(gate, _silent())
        while not api.leases:
            await asyncio.sleep(0.01)
        second = Caller(gate, _silent())
        ended = await asyncio.wait_for(second.task, 5)
        first.task.cancel()
        return second, ended

    second, ended = asyncio.run(scenario())

    assert ended.reason is EndReason.QUOTA_EXCEEDED
    assert "quotas.maxConcurrentCalls" in ended.detail
    assert "1 concurrent calls" in ended.detail
    assert second.heard == [ended]  # refused before the call started: nothing else was said
    metric = gate.metrics.value("switchboard_calls_rejected_total", reason="quota_exceeded")
    assert metric == 1


def test_a_hung_up_call_gives_its_slot_to_the_next_call() -> None:
    api = FakeLeases()
    gate = gateway(api, 1)

    async def scenario() -> tuple[CallEndedEvent, CallEndedEvent]:
        hang_up = asyncio.Event()
        first = Caller(gate, _hangs_up_after(hang_up))
        while not api.leases:
            await asyncio.sleep(0.01)
        hang_up.set()
        ended = await asyncio.wait_for(first.task, 5)
        assert gate.slots is not None
        await asyncio.gather(*gate.slots._releasing)
        assert api.leases == {}
        second = Caller(gate, _hangs_up_after(hang_up))
        return ended, await asyncio.wait_for(second.task, 5)

    first_end, second_end = asyncio.run(scenario())

    assert first_end.reason is EndReason.CALLER_HANGUP
    assert second_end.reason is EndReason.CALLER_HANGUP  # admitted: the slot was free again


def test_a_cancelled_call_releases_its_slot() -> None:
    api = FakeLeases()
    gate = gateway(api, 1)

    async def scenario() -> None:
        caller = Caller(gate, _silent())
        while not api.leases:
            await asyncio.sleep(0.01)
        caller.task.cancel()  # the transport went away (or the gateway stopped)
        await asyncio.gather(caller.task, return_exceptions=True)
        assert gate.slots is not None
        await asyncio.gather(*gate.slots._releasing)

    asyncio.run(scenario())

    assert api.leases == {}


def test_a_drained_gateway_releases_the_slots_of_the_calls_it_ends() -> None:
    api = FakeLeases()
    gate = gateway(api, 2)

    async def scenario() -> list[CallEndedEvent]:
        callers = [Caller(gate, _silent()), Caller(gate, _silent())]
        while len(api.leases) < 2:
            await asyncio.sleep(0.01)
        await gate.drain(0.05)
        ended = [await asyncio.wait_for(c.task, 5) for c in callers]
        assert gate.slots is not None
        await asyncio.gather(*gate.slots._releasing)
        return ended

    ended = asyncio.run(scenario())

    assert {e.reason for e in ended} == {EndReason.SHUTTING_DOWN}
    assert api.leases == {}


def test_an_unreachable_api_server_refuses_the_call_at_once_failing_closed() -> None:
    api = FakeLeases()
    api.hang = True
    gate = gateway(api, 5, acquire_timeout_s=0.2)

    async def scenario() -> CallEndedEvent:
        return await asyncio.wait_for(Caller(gate, _silent()).task, 5)

    ended = asyncio.run(scenario())

    assert ended.reason is EndReason.QUOTA_EXCEEDED
    assert "could not be checked (it fails closed)" in ended.detail
    assert gate.active == 0


def test_both_transports_carry_the_reason() -> None:
    ended = CallEndedEvent(EndReason.QUOTA_EXCEEDED, "all slots held")
    assert outbound_from_proto(outbound_to_proto(ended)) == ended
    assert outbound_to_proto(ended).ended.reason == 13
    assert json.loads(outbound_to_json(ended))["reason"] == "quota_exceeded"


def test_the_config_s_quota_builds_slots_on_the_pods_own_credentials() -> None:
    quota = CallQuotaConfig(limit=3, namespace="acme", tenant="acme")
    slots = call_slots(quota)

    assert slots.limit == 3
    assert slots.slot_name(2) == "switchboard-call-slot-2"
    assert slots.labels == {"switchboard.dev/call-slot-of": "acme"}
    assert isinstance(slots.api, KubeLeases)
    assert (
        GatewayConfig.model_validate(
            {
                "modelPlaneUrl": "http://x",
                "agents": [
                    {
                        "apiVersion": "switchboard.dev/v1alpha1",
                        "kind": "VoiceAgent",
                        "metadata": {"name": "a", "namespace": "acme"},
                        "spec": {"prompt": {"system": "s"}},
                    }
                ],
                "callQuota": {"limit": 3, "namespace": "acme", "tenant": "acme"},
            }
        ).call_quota
        == quota
    )
    asyncio.run(slots.close())
