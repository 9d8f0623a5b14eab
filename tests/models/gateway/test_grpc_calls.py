"""Calls over real gRPC: a conversation, and bad input that ends one call and nothing else."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from switchboard_gateway.client import connect
from switchboard_gateway.events import (
    AgentAudioEvent,
    AudioFormat,
    CallEndedEvent,
    CallStarted,
    EndReason,
    OutboundEvent,
    TurnLatencyEvent,
)
from switchboard_gateway.gateway import Gateway
from switchboard_gateway.records.model import CallRecord, CallStore
from switchboard_gateway.records.sqlite import SqliteCallStore
from switchboard_gateway.rpc import call_pb2 as pb
from switchboard_gateway.scripted_caller import ScriptedCaller, Turn, scripted_call
from switchboard_gateway.transports.grpc.codec import outbound_from_proto
from switchboard_serve.evaluation import word_error_rate
from tests.models.gateway.harness import API_KEY, grpc_gateway
from tests.models.gateway.test_session import UTTERANCES
from tests.speech import synthesise

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def target(
    base_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gateway, str]]:
    path = tmp_path_factory.mktemp("records") / "calls.db"

    async def sqlite() -> CallStore:
        return SqliteCallStore(path)

    with grpc_gateway(base_url, open_store=sqlite) as (gateway, address, _):
        yield gateway, address


def test_a_three_turn_conversation_over_grpc(target: tuple[Gateway, str]) -> None:
    speech = synthesise(UTTERANCES)

    async def scenario() -> ScriptedCaller:
        async with scripted_call(target[1], "acme/receptionist", api_key=API_KEY) as caller:
            await caller.converse([Turn(audio=pcm) for pcm in speech])
        return caller

    caller = asyncio.run(scenario())
    events = [e for _, e in caller.seen.events]
    assert isinstance(events[0], CallStarted)
    assert events[-1] == CallEndedEvent(EndReason.CALLER_HANGUP, "done")
    finals = caller.finals()
    assert word_error_rate(list(zip(UTTERANCES, finals, strict=True))) <= 0.2, finals
    assert len(caller.seen.of(TurnLatencyEvent)) == 3
    gateway = target[0]
    assert gateway.store is not None
    stored = asyncio.run(gateway.store.get(events[0].call_id))
    check_record(stored, "grpc", finals)
    assert {e.turn for e in caller.seen.of(AgentAudioEvent)} >= {0, 1, 2, 3}


def check_record(record: CallRecord | None, channel: str, finals: list[str]) -> None:
    """A stored three-turn call: turns as heard, per-stage latencies."""
    assert record is not None
    assert (record.agent, record.channel, record.end_reason) == (
        "acme/receptionist",
        channel,
        "caller_hangup",
    )
    assert [t.number for t in record.turns] == [0, 1, 2, 3]
    assert [t.caller_text for t in record.turns[1:]] == finals
    assert all(t.agent_text for t in record.turns)
    assert all(t.voice_to_voice_ms > 0 and t.asr_final_ms > 0 for t in record.turns[1:])
    assert record.ended_at > record.started_at


async def _call_events(
    address: str,
    events: list[pb.ClientEvent],
    agent: str = "acme/receptionist",
    key: str = API_KEY,
    input_format: AudioFormat | None = None,
) -> list[OutboundEvent]:
    async with connect(address, agent, api_key=key, input_format=input_format) as call:
        for event in events:
            await call.send_raw(event)
        return [e async for e in call.events()]


def _ended(events: list[OutboundEvent]) -> CallEndedEvent:
    assert isinstance(events[-1], CallEndedEvent), events[-3:]
    return events[-1]


BAD_CALLS = [
    ("unknown agent", {"agent": "acme/nobody"}, [], EndReason.UNKNOWN_AGENT, "nobody"),
    ("bad key", {"key": "sk-wrong"}, [], EndReason.UNAUTHENTICATED, "API key"),
    (
        "odd-length PCM16 frame",
        {},
        [pb.ClientEvent(audio=pb.Audio(data=b"\x00" * 321))],
        EndReason.PROTOCOL_ERROR,
        "odd length",
    ),
    (
        "oversized frame",
        {},
        [pb.ClientEvent(audio=pb.Audio(data=b"\x00" * 300_000))],
        EndReason.PROTOCOL_ERROR,
        "",
    ),
    (
        "a second start",
        {},
        [pb.ClientEvent(start=pb.Start(agent="acme/receptionist"))],
        EndReason.PROTOCOL_ERROR,
        "only once",
    ),
    ("empty event", {}, [pb.ClientEvent()], EndReason.PROTOCOL_ERROR, "empty"),
    (
        "bad DTMF",
        {},
        [pb.ClientEvent(dtmf=pb.Dtmf(digits="12x"))],
        EndReason.PROTOCOL_ERROR,
        "DTMF",
    ),
]


@pytest.mark.parametrize(
    ("case", "options", "events", "reason", "detail"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS]
)
def test_bad_input_ends_the_call_with_a_clear_reason(
    target: tuple[Gateway, str],
    case: str,
    options: dict[str, str],
    events: list[pb.ClientEvent],
    reason: EndReason,
    detail: str,
) -> None:
    received = asyncio.run(
        _call_events(
            target[1],
            events,
            agent=options.get("agent", "acme/receptionist"),
            key=options.get("key", API_KEY),
        )
    )
    ended = _ended(received)
    assert ended.reason is reason, ended
    assert detail in ended.detail
    assert target[0].active == 0


def test_an_unsupported_sample_rate_or_audio_before_start_is_refused(
    target: tuple[Gateway, str],
) -> None:
    async def raw(first: pb.ClientEvent) -> list[OutboundEvent]:
        async with grpc.aio.insecure_channel(target[1]) as channel:
            from switchboard_gateway.rpc import call_pb2_grpc
            from switchboard_gateway.transports.grpc.codec import outbound_from_proto

            stub = call_pb2_grpc.CallServiceStub(channel)

            async def requests() -> object:
                yield first

            return [outbound_from_proto(m) async for m in stub.Converse(requests())]

    wrong_rate = pb.ClientEvent(
        start=pb.Start(
            agent="acme/receptionist",
            api_key=API_KEY,
            input_format=pb.AudioFormat(sample_rate=11_025),
        )
    )
    ended = _ended(asyncio.run(raw(wrong_rate)))
    assert ended.reason is EndReason.PROTOCOL_ERROR
    assert "11025" in ended.detail
    audio_first = pb.ClientEvent(audio=pb.Audio(data=b"\x00\x00" * 160))
    ended = _ended(asyncio.run(raw(audio_first)))
    assert ended.reason is EndReason.PROTOCOL_ERROR
    assert "start" in ended.detail


def test_an_undecodable_first_message_is_refused_with_a_reason(
    target: tuple[Gateway, str],
) -> None:
    async def undecodable() -> list[bytes]:
        async with grpc.aio.insecure_channel(target[1]) as channel:
            converse: grpc.aio.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream(
                "/switchboard.v1.CallService/Converse"
            )

            async def requests() -> AsyncIterator[bytes]:
                yield b"\xff\x01"  # not a ClientEvent

            return [m async for m in converse(requests())]

    answers = asyncio.run(undecodable())
    ended = _ended([outbound_from_proto(pb.ServerEvent.FromString(m)) for m in answers])
    assert ended.reason is EndReason.PROTOCOL_ERROR
    assert "unreadable start" in ended.detail


def test_admission_control_answers_resource_exhausted(base_url: str) -> None:
    with grpc_gateway(base_url, max_calls=1) as (gateway, address, _):

        async def scenario() -> None:
            async with connect(address, "acme/receptionist", api_key=API_KEY) as first:
                events = first.events()
                assert isinstance(await anext(events), CallStarted)
                assert gateway.active == 1
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await _call_events(address, [])
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "limit is 1" in (refused.value.details() or "")
                await first.hangup()
                ended = [e async for e in events][-1]
                assert ended == CallEndedEvent(EndReason.CALLER_HANGUP, "")

        asyncio.run(scenario())
        deadline = time.monotonic() + 5
        while gateway.active and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gateway.active == 0, "the finished call gave its slot back"
