"""The call loop on virtual time: each scenario a sentence, each a whole call in milliseconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from switchboard_gateway.backends.base import BackendError
from switchboard_gateway.conversation.responder import APOLOGY
from switchboard_gateway.conversation.session import CallSession
from switchboard_gateway.events import (
    AgentAudioEvent,
    AgentTextEvent,
    CallEndedEvent,
    CallerText,
    ClearEvent,
    EndReason,
    InboundEvent,
    OutboundEvent,
    StartCall,
    TranscriptEvent,
)
from switchboard_gateway.gateway import AgentEntry, Gateway
from switchboard_gateway.testing.calls import CallResult, agent_config, run_scripted_call
from switchboard_gateway.testing.clock import FakeClock
from switchboard_gateway.testing.fakes import (
    WORD_S,
    EnergyVad,
    FakeChatModel,
    FakeModels,
    FakeSynthesizer,
    FakeTranscriber,
)
from switchboard_gateway.testing.script import CallScript
from switchboard_gateway.tools.dispatch import TOOL_APOLOGY
from switchboard_wire.chat import ReplyDone, ReplyEvent, ReplyText, ToolRequest

pytestmark = pytest.mark.unit

#: Eight words: 2.4 s of fake speech.
GREETING = "Hello and welcome, how can I help today?"


def call(script: CallScript, **options: Any) -> CallResult:
    spec = options.pop("spec", {})
    config = agent_config(prompt={"system": "Test.", "greeting": GREETING}, **spec)
    return asyncio.run(run_scripted_call(config, script, **options))


def agent_audio(result: CallResult, turn: int) -> list[tuple[float, AgentAudioEvent]]:
    return [(t, e) for t, e in result.of(AgentAudioEvent) if e.turn == turn]


def long_reply(
    messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
) -> list[ReplyEvent]:
    """Six seconds of speech, in one sentence."""
    return [ReplyText(" ".join(["word"] * 20) + "."), ReplyDone("stop")]


def test_a_greeting_cut_short_keeps_only_what_was_heard() -> None:
    script = CallScript().say(at=0.3, seconds=1.0, text="Sorry, who is this?").hangup(at=4)
    result = call(script)

    ((cleared_at, clear),) = result.of(ClearEvent)
    frames = agent_audio(result, 0)
    assert all(t <= cleared_at for t, _ in frames), "no greeting audio after the clear"
    assert clear.after_sequence == frames[-1][1].sequence
    greeting = result.history[0]
    assert greeting["role"] == "assistant"
    heard = greeting["content"].rstrip("…").split()
    assert 0 < len(heard) < len(GREETING.split()), greeting
    assert GREETING.split()[: len(heard)] == heard
    assert result.history[1] == {"role": "user", "content": "Sorry, who is this?"}


def test_a_backchannel_over_the_agent_is_not_a_turn() -> None:
    # "mm-hm" for 0.12 s while the agent speaks: shorter than barge-in's 0.2 s minimum.
    script = CallScript().say(at=0.8, seconds=0.12, text="mm-hm").hangup(at=4)
    result = call(script)

    assert not result.of(ClearEvent)
    assert [m["role"] for m in result.history] == ["assistant"]
    assert result.history[0]["content"] == GREETING, "the greeting played to its end"
    assert not [e for _, e in result.of(TranscriptEvent) if e.final]


def test_barge_in_waits_for_the_minimum_speech_and_words() -> None:
    script = (
        CallScript()
        .say(at=0.5, seconds=0.6, text="what")
        .type(at=0.0, text="Tell me everything.")
        .say(at=2.0, seconds=1.2, text="stop right there please")
        .hangup(at=6)
    )
    spec = {"callPolicy": {"bargeIn": {"minSpeechMs": 300, "minWords": 2}}}
    result = call(script, reply=long_reply, spec=spec)

    clears = result.of(ClearEvent)
    assert len(clears) == 1, "one word never interrupts; four do, once heard"
    cleared_at = clears[0][0]
    assert cleared_at >= 2.0 + 0.3, "not before the minimum speech"
    partials = [
        t for t, e in result.of(TranscriptEvent) if not e.final and len(e.text.split()) >= 2
    ]
    assert partials, "a partial heard two words"
    assert partials[0] <= cleared_at, "not before a partial heard two words"


def test_an_idle_call_ends_with_its_reason() -> None:
    result = call(CallScript(), spec={"callPolicy": {"idleTimeoutSeconds": 5}})

    assert result.ended.reason is EndReason.IDLE_TIMEOUT
    greeting_end = agent_audio(result, 0)[-1][0]
    ended_at = result.events[-1][0]
    assert 5.0 <= ended_at - greeting_end <= 5.5, (greeting_end, ended_at)


def test_a_call_past_its_maximum_duration_ends_with_its_reason_even_while_busy() -> None:
    # The caller keeps talking: never idle, but the call is over at 30 s.
    script = CallScript()
    for second in range(0, 40, 2):
        script.say(at=second + 0.5, seconds=1.0, text=f"still here {second}")
    spec = {"callPolicy": {"idleTimeoutSeconds": 5, "maxCallDurationSeconds": 30}}
    result = call(script, spec=spec, until=45)

    assert result.ended.reason is EndReason.MAX_DURATION
    assert 30.0 <= result.events[-1][0] <= 30.1


def test_a_repeated_tool_call_is_answered_without_tools() -> None:
    def model(
        messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> list[ReplyEvent]:
        if tools:  # a small model asks for the same lookup again and again
            return [ToolRequest("c1", "lookup", '{"q": "hours"}'), ReplyDone("tool_calls")]
        return [ReplyText("We open at nine."), ReplyDone("stop")]

    # No such tool: each request fails at once ("unknown_tool"), with no network involved;
    # end_call keeps a tool on offer.
    script = CallScript().type(at=0.1, text="When do you open?").hangup(at=12)
    result = call(script, reply=model, spec={"callPolicy": {"endCallTool": True}})

    offered = [bool(tools) for _, tools in result.models.chat.requests]
    assert offered == [True, True, False], "the repeat is caught once, then no tools"
    said = [e.text for _, e in result.of(AgentTextEvent)]
    assert said[-1] == "We open at nine."
    assert TOOL_APOLOGY in said, "the failed lookup was apologised for"
    calls = [m for m in result.history if m.get("tool_calls")]
    assert len(calls) == 1, "the repeated request is forgotten"
    assert result.history[-1] == {"role": "assistant", "content": "We open at nine."}


def test_a_backend_failure_is_apologised_for() -> None:
    def broken(
        messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> list[ReplyEvent]:
        raise BackendError("the model plane is down")

    script = CallScript().type(at=1.0, text="Hello?").hangup(at=6)
    result = call(script, reply=broken)

    said = [e.text for _, e in result.of(AgentTextEvent)]
    assert said[-1] == APOLOGY
    assert agent_audio(result, 1), "the apology was spoken"
    assert result.ended.reason is EndReason.CALLER_HANGUP
    (latency,) = result.latencies
    assert latency.interrupted, "the failed turn is not reported as answered"


def test_end_call_ends_the_call_after_the_goodbye_has_played() -> None:
    def goodbye(
        messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> list[ReplyEvent]:
        return [
            ReplyText("Thanks for calling, goodbye!"),
            ToolRequest("e1", "end_call", "{}"),
            ReplyDone("tool_calls"),
        ]

    script = CallScript().type(at=1.0, text="That is all, thanks.")
    result = call(script, reply=goodbye, spec={"callPolicy": {"endCallTool": True}})

    assert result.ended.reason is EndReason.AGENT_ENDED
    frames = agent_audio(result, 1)
    spoken_s = len(frames) * 0.02
    assert spoken_s >= 4 * WORD_S, "the whole goodbye was sent"
    ended_at = result.events[-1][0]
    assert ended_at >= frames[0][0] + spoken_s - 0.1, "and had played before the call ended"


def test_a_typed_turn_interrupts_the_agent() -> None:
    script = (
        CallScript()
        .type(at=0.5, text="Tell me a story.")
        .type(at=1.5, text="Actually, what are your hours?")
        .hangup(at=8)
    )
    result = call(script, reply=long_reply)

    clears = result.of(ClearEvent)
    assert clears[0][0] == pytest.approx(0.5, abs=0.03), "the greeting is cut"
    cleared_at = clears[-1][0]
    assert len(clears) == 2
    assert cleared_at == pytest.approx(1.5, abs=0.03), "the typed turn stops the agent at once"
    assert all(t <= cleared_at for t, _ in agent_audio(result, 1))
    cut = result.history[2]
    assert cut["role"] == "assistant"
    assert 0 < len(cut["content"]) < len(long_reply([], [])[0].text)  # type: ignore[union-attr]
    assert result.history[3] == {"role": "user", "content": "Actually, what are your hours?"}
    assert agent_audio(result, 2), "and answers the new turn"


def test_a_turn_spoken_while_the_last_one_is_still_being_transcribed_is_heard_whole() -> None:
    def slow_final(models: FakeModels) -> None:
        models.transcriber.final_s = 1.5

    script = (
        CallScript()
        .say(at=1.0, seconds=0.8, text="first question")
        .say(at=2.4, seconds=0.8, text="second question")
        .hangup(at=9)
    )
    result = call(script, prepare=slow_final)

    finals = [e.text for _, e in result.of(TranscriptEvent) if e.final]
    assert finals == ["first question", "second question"]
    assert [latency.endpointing_ms for latency in result.latencies] == [
        pytest.approx(500, abs=60),
        pytest.approx(500, abs=60),
    ]


def test_a_missing_prompt_variable_refuses_the_call_at_admission() -> None:
    config = agent_config(
        prompt={
            "system": "You work for {{company}}.",
            "greeting": "Hi.",
            "callerVariables": ["company"],
        }
    )
    gateway = Gateway({config.key: AgentEntry(config, backend=None)})  # type: ignore[arg-type]

    refused = gateway.admit(StartCall(agent=config.key), "grpc")

    assert not isinstance(refused, type(None))
    assert getattr(refused, "reason", None) is EndReason.PROTOCOL_ERROR
    assert "company" in refused.detail  # type: ignore[union-attr]
    assert gateway.metrics.value("switchboard_calls_rejected_total", reason="protocol_error") == 1
    admitted = gateway.admit(StartCall(agent=config.key, variables={"company": "Acme"}), "grpc")
    assert getattr(admitted, "prompts", None) is not None
    assert admitted.prompts.system == "You work for Acme."  # type: ignore[union-attr]


def test_turn_spoken_text_reaches_the_transcriber_whole() -> None:
    script = (
        CallScript()
        .say(at=1.0, seconds=1.2, text="What time do you open on Saturday?")
        .hangup(at=5)
    )
    result = call(script)

    finals = [e.text for _, e in result.of(TranscriptEvent) if e.final]
    assert finals == ["What time do you open on Saturday?"]
    (latency,) = result.latencies
    assert latency.endpointing_ms == pytest.approx(500, abs=40)
    # Answered in advance at the pause: the first audio leaves at the decision, never before.
    assert latency.voice_to_voice_ms >= latency.endpointing_ms


def test_a_caller_who_speaks_before_the_greeting_begins_is_answered_not_greeted() -> None:
    script = CallScript().type(at=0.0, text="Hi, what are your hours?").hangup(at=5)
    result = call(script)

    assert not agent_audio(result, 0), "no greeting over the caller's first words"
    assert [m["role"] for m in result.history] == ["user", "assistant"]
    assert result.history[1]["content"] == "You said Hi, what are your hours?."


def test_a_call_over_a_channel_the_agent_has_switched_off_is_refused() -> None:
    config = agent_config(channels={"websocket": {"enabled": False}})
    gateway = Gateway({config.key: AgentEntry(config, backend=None)})  # type: ignore[arg-type]

    refused = gateway.admit(StartCall(agent=config.key), "websocket")

    assert getattr(refused, "reason", None) is EndReason.UNKNOWN_AGENT
    assert "websocket" in refused.detail  # type: ignore[union-attr]
    assert getattr(gateway.admit(StartCall(agent=config.key), "grpc"), "prompts", None)


def test_a_caller_stream_that_breaks_ends_the_call_as_a_protocol_error() -> None:
    async def broken() -> AsyncIterator[InboundEvent]:
        yield CallerText("Hello?")
        raise RecursionError("a transport's decoder gave up")

    config = agent_config(prompt={"system": "Test."})
    models_clock = FakeClock()
    models = FakeModels(
        FakeTranscriber(models_clock, CallScript()),
        FakeChatModel(models_clock),
        FakeSynthesizer(models_clock),
    )
    sent: list[OutboundEvent] = []

    async def send(event: OutboundEvent) -> None:
        sent.append(event)

    session = CallSession(
        config, models, StartCall(agent=config.key), config.prompts({}), send, "broken",
        clock=models_clock, vad=EnergyVad(),
    )  # fmt: skip
    ended = asyncio.run(session.run(broken()))

    assert ended.reason is EndReason.PROTOCOL_ERROR
    assert "RecursionError" in ended.detail
    assert sent[-1] == ended, "the end is sent, once"
    assert [e for e in sent if isinstance(e, CallEndedEvent)] == [ended]
