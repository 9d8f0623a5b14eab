"""Load: 20 scripted calls at once on the CI machine's 2 cores, with bad calls among them."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from switchboard_gateway.client import connect
from switchboard_gateway.events import (
    AgentAudioEvent,
    CallEndedEvent,
    CallStarted,
    EndReason,
    OutboundEvent,
    TurnLatencyEvent,
)
from switchboard_gateway.records.model import CallStore
from switchboard_gateway.records.sqlite import SqliteCallStore
from switchboard_gateway.rpc import call_pb2 as pb
from switchboard_gateway.scripted_caller import ScriptedCaller, Turn, scripted_call
from tests.models.gateway.harness import API_KEY, grpc_gateway
from tests.models.gateway.test_session import UTTERANCES
from tests.speech import synthesise

pytestmark = pytest.mark.models

CALLS = 20
AGENT = "acme/receptionist"


def test_twenty_concurrent_calls_complete_while_bad_calls_fail_alone(
    base_url: str, tmp_path: Path
) -> None:
    speech = synthesise(UTTERANCES)
    path = tmp_path / "calls.db"

    async def sqlite() -> CallStore:
        return SqliteCallStore(path)

    async def one_call(address: str, number: int) -> ScriptedCaller:
        await asyncio.sleep(number * 0.25)  # callers do not all dial in the same millisecond
        async with scripted_call(address, AGENT, api_key=API_KEY, end_timeout_s=30) as caller:
            turns = [Turn(audio=speech[number % len(speech)])]
            await caller.converse(turns, timeout_s=180, greeting_wait_s=180)
        return caller

    async def bad_call(address: str, delay_s: float, event: pb.ClientEvent) -> list[OutboundEvent]:
        await asyncio.sleep(delay_s)
        async with connect(address, AGENT, api_key=API_KEY) as call:
            await call.send_raw(event)
            return [e async for e in call.events()]

    with grpc_gateway(base_url, max_calls=CALLS + 2, open_store=sqlite) as (gateway, address, run):

        async def everything() -> tuple[list[ScriptedCaller], list[list[OutboundEvent]]]:
            calls = [one_call(address, n) for n in range(CALLS)]
            odd_frame = pb.ClientEvent(audio=pb.Audio(data=b"\x00" * 321))
            oversized = pb.ClientEvent(audio=pb.Audio(data=os.urandom(300_000)))
            bad = [bad_call(address, 3.0, odd_frame), bad_call(address, 6.0, oversized)]
            good = asyncio.gather(*calls)
            failed = asyncio.gather(*bad)
            return await good, await failed

        callers, bad_results = asyncio.run(everything())
        dropped = gateway.metrics.value("switchboard_dropped_frames_total", agent=AGENT)
        assert gateway.store is not None
        ids = [c.seen.of(CallStarted)[0].call_id for c in callers]
        records = [run(gateway.store.get(call_id)) for call_id in ids]

    for events in bad_results:
        ended = events[-1]
        assert isinstance(ended, CallEndedEvent)
        assert ended.reason is EndReason.PROTOCOL_ERROR
    for number, caller in enumerate(callers):
        assert caller.seen.of(CallStarted), number
        assert caller.seen.of(CallEndedEvent) == [CallEndedEvent(EndReason.CALLER_HANGUP, "done")]
        assert len(caller.finals()) == 1, (number, caller.finals())
        assert caller.finals()[0].strip(), number
        (latency,) = caller.seen.of(TurnLatencyEvent)
        assert latency.voice_to_voice_ms > 0
        reply = [e for e in caller.seen.of(AgentAudioEvent) if e.turn == 1]
        assert len(reply) >= 25, f"call {number}: under half a second of reply"
    assert dropped == 0, "every caller reads at real time: no frame may be dropped"
    for record in records:
        assert record is not None
        assert record.end_reason == "caller_hangup"
        assert [t.number for t in record.turns] == [0, 1]
