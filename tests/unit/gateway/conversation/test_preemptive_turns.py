"""Preemptive generation on virtual time: the final pass and the reply start at the caller's pause.

The greeting (eight words, 2.4 s of fake speech) has played out before the caller speaks at 3 s.
Fake models: final pass 0.1 s, LLM first token 0.1 s, first audio 0.05 s; endpointing 0.5 s; the
speculative pass starts 0.2 s into a pause.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from switchboard_gateway.backends.base import BackendError
from switchboard_gateway.conversation.listener import MAX_SPECULATIONS, SPECULATE_AFTER_S
from switchboard_gateway.events import (
    AgentAudioEvent,
    AgentTextEvent,
    ClearEvent,
    EndReason,
    TranscriptEvent,
)
from switchboard_gateway.testing.calls import CallResult, agent_config, run_scripted_call
from switchboard_gateway.testing.fakes import WORD_S, FakeModels, echo
from switchboard_gateway.testing.script import CallScript
from switchboard_wire.chat import ReplyDone, ReplyEvent, ReplyText, ToolRequest
from switchboard_wire.transcription import PartialText

pytestmark = pytest.mark.unit

GREETING = "Hello and welcome, how can I help today?"
START = 1000.0  # the fake clock's start


def call(script: CallScript, **options: Any) -> CallResult:
    spec = options.pop("spec", {})
    config = agent_config(prompt={"system": "Test.", "greeting": GREETING}, **spec)
    return asyncio.run(run_scripted_call(config, script, **options))


def finals(result: CallResult) -> list[tuple[float, str]]:
    return [(t, e.text) for t, e in result.of(TranscriptEvent) if e.final]


def final_passes(result: CallResult) -> list[float]:
    return [round(t - START, 3) for t, final in result.models.transcriber.passes if final]


def asked_about(result: CallResult, words: str) -> bool:
    """Whether any LLM request carried a caller message with `words`."""
    return any(
        m["role"] == "user" and words in str(m["content"])
        for messages, _ in result.models.chat.requests
        for m in messages
    )


def said(result: CallResult) -> list[str]:
    return [e.text for _, e in result.of(AgentTextEvent)]


def paused_script(first: str, second: str, resume_at: float = 3.95) -> CallScript:
    """`first` (0.6 s from 3 s), a 0.35 s pause (under the 0.5 s endpointing), then `second`.

    The fake transcriber hears the whole utterance as `second` (its longer part).
    """
    return (
        CallScript()
        .say(at=3.0, seconds=0.6, text=first)
        .say(at=resume_at, seconds=1.2, text=second)
        .hangup(at=10)
    )


def test_the_final_pass_starts_at_the_pause_and_runs_once_per_turn() -> None:
    script = CallScript().say(at=3.0, seconds=1.2, text="What time do you open?").hangup(at=9)
    result = call(script)

    (only_pass,) = final_passes(result)
    speech_end = 4.2
    at_pause = speech_end + SPECULATE_AFTER_S
    assert at_pause - 0.05 <= only_pass <= at_pause + 0.05, "at the pause, not at the decision"
    ((decided, text),) = finals(result)
    assert text == "What time do you open?"
    assert decided >= speech_end + 0.45, "the turn is still confirmed by endpointing"
    (latency,) = result.latencies
    assert latency.endpointing_ms == pytest.approx(500, abs=40)
    assert latency.asr_final_ms == 100
    assert latency.llm_ttft_ms == 100


def test_a_confirmed_turn_sends_its_first_audio_at_the_decision() -> None:
    script = CallScript().say(at=3.0, seconds=1.2, text="What time do you open?").hangup(at=9)
    result = call(script)

    ((decided, _),) = finals(result)
    texts = [(t, e) for t, e in result.of(AgentTextEvent) if e.turn == 1]
    audio = [t for t, e in result.of(AgentAudioEvent) if e.turn == 1]
    assert texts[0][0] >= decided, "nothing of the reply before the turn is confirmed"
    assert audio[0] >= decided
    # ASR, LLM and TTS (0.25 s here) all ran during the 0.5 s of silence.
    assert audio[0] - decided <= 0.03
    (latency,) = result.latencies
    assert latency.voice_to_voice_ms - latency.endpointing_ms <= 30
    assert not latency.interrupted
    assert result.history[-1] == {
        "role": "assistant",
        "content": "You said What time do you open?.",
    }


def test_a_caller_who_resumes_after_a_pause_gets_no_reply_to_the_half_turn() -> None:
    script = paused_script("I would like", "to book a table for two")
    result = call(script)

    assert asked_about(result, "I would like"), "the held reply was asked for at the pause"
    assert "You said I would like." in result.models.synthesizer.texts, "and its first piece"
    assert said(result) == [GREETING, "You said to book a table for two."], "answered once"
    assert [text for _, text in finals(result)] == ["to book a table for two"]
    assert not [t for t, text in finals(result) if "I would like" in text]
    assert not result.of(ClearEvent), "nothing was played, so nothing is cleared"
    assert [m["content"] for m in result.history if m["role"] == "user"] == [
        "to book a table for two"
    ]
    (latency,) = result.latencies
    assert latency.turn == 1
    assert all(e.turn in (0, 1) for _, e in result.of(AgentAudioEvent))


def test_a_speculative_pass_still_running_when_the_caller_resumes_is_ignored() -> None:
    def slow_final(models: FakeModels) -> None:
        models.transcriber.final_s = 0.5

    script = paused_script("I would like", "to book a table for two")
    result = call(script, prepare=slow_final)

    assert not asked_about(result, "I would like"), "its transcript went nowhere"
    assert said(result) == [GREETING, "You said to book a table for two."]
    (latency,) = result.latencies
    assert latency.endpointing_ms == pytest.approx(500, abs=40)


def test_a_held_reply_runs_no_tool_before_the_turn_is_confirmed() -> None:
    def model(
        messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> list[ReplyEvent]:
        last = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        if "bye" in last:  # a reply of a tool call only: nothing to play, everything to do
            return [ToolRequest("e1", "end_call", "{}"), ReplyDone("tool_calls")]
        return echo(messages, tools)

    script = paused_script("okay bye", "wait one more question please")
    result = call(script, reply=model, spec={"callPolicy": {"endCallTool": True}})

    assert asked_about(result, "okay bye")
    assert result.ended.reason is EndReason.CALLER_HANGUP, "end_call never ran"
    assert said(result)[-1] == "You said wait one more question please."
    assert not [m for m in result.history if m.get("tool_calls") or m["role"] == "tool"]


def test_a_confirmed_held_reply_runs_its_tools() -> None:
    def goodbye(
        messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> list[ReplyEvent]:
        return [
            ReplyText("Thanks for calling, goodbye!"),
            ToolRequest("e1", "end_call", "{}"),
            ReplyDone("tool_calls"),
        ]

    script = CallScript().say(at=3.0, seconds=1.0, text="That is all, thanks.").hangup(at=12)
    result = call(script, reply=goodbye, spec={"callPolicy": {"endCallTool": True}})

    assert result.ended.reason is EndReason.AGENT_ENDED
    ((decided, _),) = finals(result)
    audio = [t for t, e in result.of(AgentAudioEvent) if e.turn == 1]
    assert decided <= audio[0] <= decided + 0.03
    assert len(audio) * 0.02 >= 4 * WORD_S, "the goodbye was sent whole"
    assert result.events[-1][0] >= audio[0] + 4 * WORD_S - 0.1, "and played before the end"


def test_barge_in_cuts_a_reply_that_was_prepared_at_the_pause() -> None:
    def long_reply(
        messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> list[ReplyEvent]:
        last = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        if last == "tell me a story":
            return [ReplyText(" ".join(["word"] * 20) + "."), ReplyDone("stop")]
        return echo(messages, tools)

    script = (
        CallScript()
        .say(at=3.0, seconds=0.8, text="tell me a story")
        .say(at=6.0, seconds=1.0, text="stop right there please")
        .hangup(at=10)
    )
    result = call(script, reply=long_reply)

    ((cleared_at, _),) = result.of(ClearEvent)
    assert cleared_at == pytest.approx(6.0 + 0.2, abs=0.05), "barge-in as before"
    assert [m["role"] for m in result.history] == [
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    cut = str(result.history[2]["content"])
    assert 0 < len(cut.split()) < 20, "only what was heard of the cut reply"
    assert result.history[3]["content"] == "stop right there please"
    assert said(result)[-1] == "You said stop right there please."


def test_a_typed_turn_in_the_pause_drops_the_held_reply_without_a_clear() -> None:
    script = (
        CallScript()
        .say(at=3.0, seconds=0.6, text="I would like")
        .type(at=3.85, text="What are your hours?")
        .hangup(at=10)
    )
    result = call(script)

    assert asked_about(result, "I would like")
    assert not result.of(ClearEvent)
    assert [text for _, text in finals(result)] == ["What are your hours?", "I would like"]
    assert said(result) == [GREETING, "You said What are your hours?.", "You said I would like."]
    assert [latency.turn for latency in result.latencies] == [1, 2]


def test_a_halting_turn_speculates_at_its_first_pauses_only() -> None:
    script = CallScript()
    for index, at in enumerate((3.0, 3.8, 4.6, 5.4)):
        script.say(at=at, seconds=0.5, text=f"part {index}")
    script.say(at=6.2, seconds=2.5, text="and that is the whole list").hangup(at=12)
    result = call(script)

    passes = final_passes(result)
    assert len(passes) == MAX_SPECULATIONS + 1, passes
    speech_end = 6.2 + 2.5
    assert passes[-1] >= speech_end + 0.45, "the last pass waited for the decision"
    assert [text for _, text in finals(result)] == ["and that is the whole list"]
    assert said(result) == [GREETING, "You said and that is the whole list."]


def test_a_failed_speculative_pass_leaves_the_turn_to_a_final_pass_at_the_decision() -> None:
    def first_final_fails(models: FakeModels) -> None:
        transcriber, real = models.transcriber, models.transcriber.transcribe
        failures = [True]

        async def transcribe(
            pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
        ) -> PartialText:
            if final and failures:
                failures.pop()
                raise BackendError("the model plane hiccupped")
            return await real(pcm16, sample_rate, state, final=final)

        transcriber.transcribe = transcribe  # type: ignore[method-assign]

    script = CallScript().say(at=3.0, seconds=1.2, text="What time do you open?").hangup(at=9)
    result = call(script, prepare=first_final_fails)

    assert [text for _, text in finals(result)] == ["What time do you open?"]
    assert said(result)[-1] == "You said What time do you open?."
    (latency,) = result.latencies
    assert latency.endpointing_ms == pytest.approx(500, abs=40)
    assert latency.voice_to_voice_ms - latency.endpointing_ms >= 200, "no head start this time"


def test_a_gap_between_words_costs_no_speculative_pass() -> None:
    script = paused_script("I would like", "to book a table for two", resume_at=3.75)
    result = call(script)

    (only_pass,) = final_passes(result)
    speech_end = 3.75 + 1.2
    assert only_pass >= speech_end, "the 0.15 s gap started nothing"
    assert not asked_about(result, "I would like")
    assert said(result) == [GREETING, "You said to book a table for two."]
