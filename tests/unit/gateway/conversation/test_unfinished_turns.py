"""A turn ended too early: the caller talks over its reply before hearing a word of it.

Endpointing (500 ms of silence here) ends "do you have a dentist" at the caller's pause; the
reply, prepared during the pause, starts at the decision. The caller goes on ("who speaks
Spanish") and cuts it off. On virtual time with fake models (final pass 0.1 s, first token
0.1 s, first audio 0.05 s, 0.3 s a word of agent speech, barge-in after 200 ms of speech).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from switchboard_gateway.events import ClearEvent, TranscriptEvent
from switchboard_gateway.testing.calls import CallResult, agent_config, run_scripted_call
from switchboard_gateway.testing.script import CallScript

pytestmark = pytest.mark.unit

GREETING = "Hello and welcome, how can I help today?"


def call(resume_at: float) -> CallResult:
    """The first part from 3.0 s to 3.6 s, the second from `resume_at` for 1.0 s."""
    script = (
        CallScript()
        .say(at=3.0, seconds=0.6, text="do you have a dentist")
        .say(at=resume_at, seconds=1.0, text="who speaks Spanish")
        .hangup(at=12)
    )
    config = agent_config(prompt={"system": "Test.", "greeting": GREETING})
    return asyncio.run(run_scripted_call(config, script))


def user_messages(result: CallResult) -> list[Any]:
    return [m["content"] for m in result.history if m["role"] == "user"]


def test_words_that_cut_off_an_unheard_reply_continue_the_same_turn() -> None:
    result = call(resume_at=4.15)  # the reply began at ~4.1 s: cut before its first word ends

    assert result.of(ClearEvent), "the reply had begun and was cut off"
    assert user_messages(result) == ["do you have a dentist who speaks Spanish"]
    assert result.history[-1] == {
        "role": "assistant",
        "content": "You said do you have a dentist who speaks Spanish.",
    }
    assert "…" not in [m["content"] for m in result.history], "no trace of the cut reply"
    finals = [(e.turn, e.text) for _, e in result.of(TranscriptEvent) if e.final]
    assert finals == [
        (1, "do you have a dentist"),
        (1, "do you have a dentist who speaks Spanish"),
    ], "one turn, its transcript sent again whole"
    (latency,) = result.latencies
    assert (latency.turn, latency.interrupted) == (1, False)
    assert latency.voice_to_voice_ms > 0, "timed from the end of the words that finished it"
    interims = [e.turn for _, e in result.of(TranscriptEvent) if not e.final]
    assert set(interims) <= {1}, "partial transcripts of the continuation carry its number"


def test_a_caller_who_heard_part_of_the_reply_starts_a_new_turn() -> None:
    result = call(resume_at=4.9)  # ~1 s of the reply played: its first words were heard

    assert user_messages(result) == ["do you have a dentist", "who speaks Spanish"]
    cut = result.history[2]  # after the greeting and the first part
    assert cut["role"] == "assistant"
    assert str(cut["content"]).startswith("You said")
    assert str(cut["content"]).endswith("…"), "what was heard of the cut reply"
    assert [(lat.turn, lat.interrupted) for lat in result.latencies] == [(1, True), (2, False)]


def test_a_sound_with_no_words_that_cut_off_an_unheard_reply_gets_the_turn_answered() -> None:
    script = (
        CallScript()
        .say(at=3.0, seconds=0.6, text="do you have a dentist")
        .say(at=4.15, seconds=0.5, text="")  # a cough: barge-in, and no words
        .hangup(at=12)
    )
    config = agent_config(prompt={"system": "Test.", "greeting": GREETING})
    result = asyncio.run(run_scripted_call(config, script))

    assert result.of(ClearEvent), "the reply had begun and was cut off"
    assert user_messages(result) == ["do you have a dentist"]
    assert result.history[-1] == {"role": "assistant", "content": "You said do you have a dentist."}
    finals = [(e.turn, e.text) for _, e in result.of(TranscriptEvent) if e.final]
    assert finals == [(1, "do you have a dentist")], "nothing new to transcribe"
    (latency,) = result.latencies
    assert (latency.turn, latency.interrupted) == (1, False)
