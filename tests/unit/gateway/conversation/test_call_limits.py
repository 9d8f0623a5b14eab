"""Per-call limits inside a call, on virtual time: text size, turn rate, and coalescing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from switchboard_gateway.conversation.session import CallSession
from switchboard_gateway.events import (
    CallEndedEvent,
    CallerHangup,
    CallerPlayed,
    EndReason,
    InboundEvent,
    OutboundEvent,
    StartCall,
    TranscriptEvent,
)
from switchboard_gateway.testing.calls import CallResult, agent_config, run_scripted_call
from switchboard_gateway.testing.clock import FakeClock
from switchboard_gateway.testing.fakes import (
    EnergyVad,
    FakeChatModel,
    FakeModels,
    FakeSynthesizer,
    FakeTranscriber,
    echo,
)
from switchboard_gateway.testing.script import CallScript

pytestmark = pytest.mark.unit

#: Eight words: the greeting is over by 3 s.
GREETING = "Hello and welcome, how can I help today?"
GENEROUS = {"turnsPerMinute": 600, "turnBurst": 100}


def call(script: CallScript, limits: dict[str, Any] | None = None) -> CallResult:
    config = agent_config(
        prompt={"system": "Test.", "greeting": GREETING},
        callPolicy={"limits": limits or {}},
    )
    return asyncio.run(run_scripted_call(config, script))


def test_a_burst_of_forty_typed_turns_reaches_the_llm_as_at_most_two_requests() -> None:
    script = CallScript().hangup(at=10)
    for n in range(40):
        script.type(at=4.0, text=f"question {n}")

    result = call(script, GENEROUS)

    assert result.ended.reason is EndReason.CALLER_HANGUP
    assert len(result.models.chat.requests) <= 2
    users = [m["content"] for m in result.history if m["role"] == "user"]
    assert users == ["\n".join(f"question {n}" for n in range(40))], "joined, in order"


def test_a_joined_turn_keeps_one_number_and_its_final_transcript_is_sent_whole() -> None:
    script = CallScript().type(at=4.0, text="first").type(at=4.0, text="second").hangup(at=8)

    result = call(script, GENEROUS)

    finals = [(e.turn, e.text) for _, e in result.of(TranscriptEvent) if e.final]
    assert finals == [(1, "first"), (1, "first\nsecond")]
    assert [latency.turn for latency in result.latencies] == [1]


def test_typed_turns_that_arrive_after_the_reply_began_are_answered_on_their_own() -> None:
    script = CallScript().type(at=4.0, text="first").type(at=8.0, text="second").hangup(at=12)

    result = call(script, GENEROUS)

    assert len(result.models.chat.requests) == 2
    assert [m["content"] for m in result.history if m["role"] == "user"] == ["first", "second"]


def test_a_typed_flood_past_the_turn_rate_ends_the_call_naming_the_limit() -> None:
    script = CallScript().hangup(at=10)
    for n in range(40):
        script.type(at=4.0, text=f"question {n}")

    result = call(script)  # the defaults: 20 a minute after a burst of 10

    assert result.ended.reason is EndReason.PROTOCOL_ERROR
    assert "turnsPerMinute" in result.ended.detail
    assert len(result.models.chat.requests) <= 1


def test_spoken_turns_count_against_the_same_turn_rate() -> None:
    script = (
        CallScript()
        .say(at=3.0, seconds=0.8, text="first question")
        .say(at=6.0, seconds=0.8, text="second question")
        .hangup(at=12)
    )

    result = call(script, {"turnsPerMinute": 1, "turnBurst": 1})

    assert result.ended.reason is EndReason.PROTOCOL_ERROR
    assert "turnsPerMinute" in result.ended.detail
    assert [m["content"] for m in result.history if m["role"] == "user"] == ["first question"]


def test_a_typed_turn_over_the_size_limit_ends_the_call_and_is_not_kept() -> None:
    script = CallScript().type(at=4.0, text="x" * 101).hangup(at=8)

    result = call(script, {"maxTextChars": 100})

    assert result.ended.reason is EndReason.PROTOCOL_ERROR
    assert "101 characters" in result.ended.detail
    assert "maxTextChars" in result.ended.detail
    assert not [m for m in result.history if m["role"] == "user"]
    assert not result.models.chat.requests


def test_a_typed_turn_at_the_size_limit_is_answered() -> None:
    script = CallScript().type(at=4.0, text="y" * 100).hangup(at=8)

    result = call(script, {"maxTextChars": 100})

    assert result.ended.reason is EndReason.CALLER_HANGUP
    assert [m["content"] for m in result.history if m["role"] == "user"] == ["y" * 100]


def test_a_flood_of_messages_is_read_at_the_message_rate_not_as_fast_as_it_comes() -> None:
    config = agent_config(
        prompt={"system": "Test.", "greeting": GREETING},
        callPolicy={"limits": {"maxMessagesPerSecond": 100}},
    )
    clock = FakeClock()
    models = FakeModels(
        FakeTranscriber(clock, CallScript()), FakeChatModel(clock, echo), FakeSynthesizer(clock)
    )
    read_at: list[float] = []

    async def flood() -> AsyncIterator[InboundEvent]:
        for _ in range(400):  # all there at once, as from a client that never waits
            read_at.append(clock.now())
            yield CallerPlayed(1)  # no playback reports on this call: read, then ignored
        yield CallerHangup("done")

    async def scenario() -> CallEndedEvent:
        async def send(event: OutboundEvent) -> None:
            return None

        session = CallSession(
            config, models, StartCall(agent=config.key), config.prompts({}), send, "flood",
            clock=clock, vad=EnergyVad(),
        )  # fmt: skip
        running = asyncio.create_task(session.run(flood()))
        while not running.done():
            await clock.advance(0.1)
        return await running

    ended = asyncio.run(scenario())

    assert ended.reason is EndReason.CALLER_HANGUP, "slowed down, not cut off"
    assert len(read_at) == 400
    since = [t - read_at[0] for t in read_at]
    assert since[99] == 0.0, "a burst of a second's worth is read at once"
    assert since[-1] == pytest.approx(3.0, abs=0.11), "the other 300 at 100 a second"
