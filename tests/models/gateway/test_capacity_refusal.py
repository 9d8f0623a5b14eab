"""Past its capacity the gateway refuses the calls over it, and the admitted ones are answered."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from switchboard_gateway.capacity import CallCapacity
from switchboard_gateway.events import AgentAudioEvent, CallEndedEvent, EndReason
from switchboard_gateway.scripted_caller import ScriptedCaller, Turn, scripted_call
from tests.models.gateway.harness import API_KEY, grpc_gateway
from tests.models.gateway.test_session import UTTERANCES
from tests.speech import synthesise

pytestmark = pytest.mark.models

CALLS = 4
CAPACITY = 2
AGENT = "acme/receptionist"


def test_calls_past_the_capacity_are_refused_with_the_reason_and_the_others_answered(
    base_url: str,
) -> None:
    speech = synthesise(UTTERANCES[:2])

    async def one_call(address: str, number: int) -> ScriptedCaller | grpc.aio.AioRpcError:
        await asyncio.sleep(number * 0.05)  # together, but in a known order
        try:
            async with scripted_call(address, AGENT, api_key=API_KEY, end_timeout_s=30) as caller:
                turns = [Turn(audio=speech[number % len(speech)])]
                await caller.converse(turns, timeout_s=180, greeting_wait_s=180)
        except grpc.aio.AioRpcError as refused:
            return refused
        return caller

    with grpc_gateway(base_url) as (gateway, address, _):
        gateway.capacity = CallCapacity(CAPACITY)

        async def everyone() -> list[ScriptedCaller | grpc.aio.AioRpcError]:
            return await asyncio.gather(*(one_call(address, n) for n in range(CALLS)))

        results = asyncio.run(everyone())
        rejected = gateway.metrics.value("switchboard_calls_rejected_total", reason="over_capacity")

    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    answered = [r for r in results if isinstance(r, ScriptedCaller)]
    assert len(refused) == CALLS - CAPACITY, results
    assert rejected == CALLS - CAPACITY
    for refusal in refused:
        assert refusal.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (refusal.details() or "").startswith("over_capacity: 2 calls in progress")
    assert len(answered) == CAPACITY
    for caller in answered:
        assert caller.seen.of(CallEndedEvent) == [CallEndedEvent(EndReason.CALLER_HANGUP, "done")]
        assert len(caller.finals()) == 1, caller.finals()
        assert caller.finals()[0].strip()
        reply = [e for e in caller.seen.of(AgentAudioEvent) if e.turn == 1]
        assert len(reply) >= 25, "under half a second of reply"
