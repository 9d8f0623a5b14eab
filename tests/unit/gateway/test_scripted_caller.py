"""The scripted caller against a fake gateway: its script, its waits, and the outcome it folds."""

from __future__ import annotations

import asyncio

import pytest

from switchboard_gateway.events import (
    AgentAudioEvent,
    AgentTextEvent,
    AudioFormat,
    CallEndedEvent,
    CallStarted,
    EndReason,
    TranscriptEvent,
    TurnLatencyEvent,
)
from switchboard_gateway.scripted_caller import CallOutcome, ScriptedCaller, Turn
from switchboard_gateway.scripted_caller.caller import FRAME_BYTES, QUIET_S

pytestmark = pytest.mark.unit

SPEECH = b"\x10\x20" * 1600  # 0.1 s, not silent


class FakeGateway:
    """Greets, and answers each turn with a transcript, a reply, one audio frame and its latency.

    A spoken turn ends at the first silent frame after speech. `deaf`: it never answers.
    """

    def __init__(self, deaf: bool = False) -> None:
        self.caller = ScriptedCaller(self.audio, self.text)
        self.deaf = deaf
        self.frames: list[bytes] = []
        self._speaking = False
        self._turn = self._sequence = 0

    def greet(self) -> None:
        self.caller.on_event(CallStarted("call-1", "acme/receptionist", AudioFormat()))
        self.caller.on_event(AgentTextEvent(0, "Welcome."))
        self._play(0)

    async def audio(self, frame: bytes) -> None:
        self.frames.append(frame)
        if any(frame):
            self._speaking = True
        elif self._speaking:
            self._speaking = False
            self._answer("what I said")

    async def text(self, text: str) -> None:
        self._answer(text)

    def _play(self, turn: int) -> None:
        self._sequence += 1
        self.caller.on_event(AgentAudioEvent(turn, self._sequence, bytes(640)))

    def _answer(self, heard: str) -> None:
        if self.deaf:
            return
        self._turn += 1
        turn = self._turn
        self.caller.on_event(TranscriptEvent(turn, heard, final=True))
        self.caller.on_event(AgentTextEvent(turn, f"Reply {turn}."))
        self._play(turn)
        self.caller.on_event(TurnLatencyEvent(turn, 500, 70, 100, 140, 990, retrieval_ms=turn - 1))


def test_a_script_waits_for_the_greeting_and_each_reply_and_folds_the_outcome() -> None:
    gateway = FakeGateway()

    async def scenario() -> None:
        gateway.greet()
        await gateway.caller.converse([Turn(audio=SPEECH), Turn(text="Bye.")], fast=True)
        gateway.caller.on_event(CallEndedEvent(EndReason.CALLER_HANGUP, "done"))

    asyncio.run(scenario())
    caller = gateway.caller
    # Silence at real time while the greeting played out, then the utterance in full frames.
    silent = [f for f in gateway.frames if not any(f)]
    assert len(silent) >= QUIET_S / 0.02 - 2
    assert all(len(f) == FRAME_BYTES for f in gateway.frames)
    assert b"".join(f for f in gateway.frames if any(f)) == SPEECH
    assert len(caller.spoken) == 1
    assert caller.spoken[0].started_at <= caller.spoken[0].ended_at
    times = [t for t, _ in caller.seen.events]
    assert times == sorted(times)
    assert caller.script == [(1, Turn(audio=SPEECH)), (2, Turn(text="Bye."))]
    latency = {
        "endpointing": 500,
        "asrFinal": 70,
        "llmFirstToken": 100,
        "ttsFirstAudio": 140,
        "voiceToVoice": 990,
    }
    assert CallOutcome.of(caller).to_json() == {
        "callId": "call-1",
        "greeting": "Welcome.",
        "turns": [
            {"turn": 1, "caller": "what I said", "agent": "Reply 1.", "latencyMs": latency},
            {
                "turn": 2,
                "caller": "Bye.",
                "agent": "Reply 2.",
                "latencyMs": {**latency, "retrieval": 1},
            },
        ],
        "agentAudioSeconds": 0.06,
        "ended": {"reason": "caller_hangup", "detail": "done"},
        "incomplete": "",
    }


def test_a_reply_that_never_comes_times_out_naming_the_turn() -> None:
    gateway = FakeGateway(deaf=True)

    async def scenario() -> None:
        gateway.caller.on_event(CallStarted("call-2", "acme/receptionist", AudioFormat()))
        await gateway.caller.converse([Turn(audio=SPEECH)], timeout_s=0.2, greeting_wait_s=0.1)

    with pytest.raises(TimeoutError, match="turn 1: the agent heard no speech within 0 s"):
        asyncio.run(scenario())
    assert gateway.caller.script == [(1, Turn(audio=SPEECH))]


def test_a_call_that_ends_stops_the_script_without_an_error() -> None:
    gateway = FakeGateway()

    async def scenario() -> None:
        gateway.caller.on_event(CallStarted("call-3", "acme/receptionist", AudioFormat()))
        gateway.caller.on_event(CallEndedEvent(EndReason.AGENT_ENDED, ""))
        await gateway.caller.converse([Turn(audio=SPEECH), Turn(text="Hello?")])

    asyncio.run(scenario())
    assert gateway.frames == []
    assert CallOutcome.of(gateway.caller).end_reason == "agent_ended"


def test_a_turn_ended_at_a_pause_inside_the_utterance_is_not_taken_for_its_answer() -> None:
    # The gateway ends a turn at the gap inside the utterance and answers it while the caller
    # is still speaking; the caller waits for the answer to the words after the gap.
    gateway = FakeGateway()
    paused = SPEECH + bytes(FRAME_BYTES * 5) + SPEECH

    async def scenario() -> None:
        gateway.greet()
        await gateway.caller.converse([Turn(audio=paused), Turn(text="Bye.")], fast=True)
        gateway.caller.on_event(CallEndedEvent(EndReason.CALLER_HANGUP, "done"))

    asyncio.run(scenario())
    assert gateway.caller.finals() == ["what I said", "what I said", "Bye."]
    assert gateway.caller.script == [(1, Turn(audio=paused)), (3, Turn(text="Bye."))]
