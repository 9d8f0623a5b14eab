"""A whole call in-process: the conversation loop against the real model plane."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from switchboard_api.manifests import parse_manifest
from switchboard_api.resources import VoiceAgent
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.backends.model_plane_http import ModelPlaneHttp
from switchboard_gateway.conversation.session import CallSession
from switchboard_gateway.events import (
    AgentAudioEvent,
    AgentTextEvent,
    CallEndedEvent,
    CallerAudio,
    CallerHangup,
    CallStarted,
    ClearEvent,
    EndReason,
    OutboundEvent,
    StartCall,
    TurnLatencyEvent,
)
from switchboard_gateway.scripted_caller import ScriptedCaller, Turn
from switchboard_gateway.testing.calls import CallerEvents
from switchboard_serve.evaluation import word_error_rate
from tests.cases.invalid import example, with_changes
from tests.speech import synthesise

pytestmark = pytest.mark.models

UTTERANCES = [
    "What time do you open on Saturday?",
    "Is there parking near the clinic?",
    "Thank you very much.",
]


def agent_config(**changes: object) -> AgentConfig:
    """The example receptionist with short replies (a 135M model rambles otherwise)."""
    manifest = with_changes(
        example("receptionist.yaml"), {"spec.pipeline.llm.maxTokens": 40, **changes}
    )
    agent = parse_manifest(manifest, "receptionist")
    assert isinstance(agent, VoiceAgent)
    return AgentConfig.from_resource(agent)


def test_a_three_turn_call_in_process(base_url: str) -> None:
    speech = synthesise(UTTERANCES)

    async def call() -> tuple[ScriptedCaller, CallEndedEvent]:
        config = agent_config()
        http = ModelPlaneHttp(
            base_url, max_tokens=config.llm.max_tokens, temperature=0.3, timeout_s=60
        )
        caller: ScriptedCaller

        async def send(event: OutboundEvent) -> None:
            caller.on_event(event)

        start = StartCall(agent="acme/receptionist")
        session = CallSession(config, http, start, config.prompts({}), send, "call-1")
        inbound = CallerEvents()
        caller = ScriptedCaller(lambda data: _put(inbound, CallerAudio(data)))
        running = asyncio.create_task(session.run(inbound))
        try:
            await caller.converse([Turn(audio=pcm) for pcm in speech])
            inbound.put(CallerHangup("done"))
            ended = await asyncio.wait_for(running, 10)
        finally:
            running.cancel()
            await http.aclose()
        return caller, ended

    caller, ended = asyncio.run(call())
    assert ended.reason is EndReason.CALLER_HANGUP
    events = [e for _, e in caller.seen.events]
    assert isinstance(events[0], CallStarted)
    assert isinstance(events[-1], CallEndedEvent)
    texts = caller.seen.of(AgentTextEvent)
    assert "Acme Dental" in texts[0].text
    finals = caller.finals()
    assert len(finals) == 3, finals
    assert word_error_rate(list(zip(UTTERANCES, finals, strict=True))) <= 0.2, finals
    latencies = caller.seen.of(TurnLatencyEvent)
    assert len(latencies) == 3
    for latency in latencies:
        assert latency.voice_to_voice_ms > 0
        assert latency.asr_final_ms > 0
        assert latency.llm_ttft_ms > 0
    replies = {e.turn for e in caller.seen.of(AgentAudioEvent)}
    assert {0, 1, 2, 3} <= replies, "greeting and three replies were spoken"
    sequences = [e.sequence for e in caller.seen.of(AgentAudioEvent)]
    assert sequences == list(range(1, len(sequences) + 1))


async def _put(inbound: CallerEvents, event: CallerAudio) -> None:
    inbound.put(event)


def _speech_onset(pcm16: bytes, threshold: float = 0.02) -> float:
    """Seconds into `pcm16` where speech starts (first sample above the threshold)."""
    samples = np.frombuffer(pcm16, "<i2").astype(np.float32) / 32768
    return float(np.argmax(np.abs(samples) > threshold)) / 16_000


def test_barge_in_stops_the_agent_within_150_ms_and_history_keeps_what_was_heard(
    base_url: str,
) -> None:
    (interruption,) = synthesise(["Sorry, what are your opening hours?"])
    config = agent_config(
        **{
            "spec.callPolicy.bargeIn": {"minSpeechMs": 50},
            "spec.pipeline.vad": {"minSpeechMs": 64},
        }
    )

    async def call() -> tuple[ScriptedCaller, CallSession, float]:
        backend = ModelPlaneHttp(base_url, max_tokens=40, temperature=0.3, timeout_s=60)
        caller: ScriptedCaller

        async def send(event: OutboundEvent) -> None:
            caller.on_event(event)

        start = StartCall(agent="acme/receptionist")
        session = CallSession(config, backend, start, config.prompts({}), send, "b-1")
        inbound = CallerEvents()
        caller = ScriptedCaller(lambda data: _put(inbound, CallerAudio(data)))
        running = asyncio.create_task(session.run(inbound))
        try:
            while not caller.seen.of(AgentAudioEvent):
                await caller.silence(0.02)
            await caller.silence(0.8)  # the greeting is playing
            started = time.monotonic()
            await caller.speak(interruption)
            onset = started + _speech_onset(interruption)
            await caller.wait_for_reply(1)
            inbound.put(CallerHangup("done"))
            await asyncio.wait_for(running, 10)
        finally:
            running.cancel()
            await backend.aclose()
        return caller, session, onset

    caller, session, onset = asyncio.run(call())
    clears = [(t, e) for t, e in caller.seen.events if isinstance(e, ClearEvent)]
    assert len(clears) == 1, "one barge-in"
    cleared_at, clear = clears[0]
    stop_ms = (cleared_at - onset) * 1000
    assert stop_ms <= 150, f"agent audio stopped {stop_ms:.0f} ms after speech onset"
    greeting_frames = [
        (t, e) for t, e in caller.seen.events if isinstance(e, AgentAudioEvent) and e.turn == 0
    ]
    assert all(t <= cleared_at for t, _ in greeting_frames), "no greeting audio after clear"
    assert clear.after_sequence == greeting_frames[-1][1].sequence
    greeting = session.history.messages[0]
    assert greeting["role"] == "assistant"
    full = "Hello, thanks for calling Acme Dental. How can I help?"
    assert greeting["content"].endswith("…")
    assert full.startswith(greeting["content"].rstrip("…").split(".")[0])
    assert len(greeting["content"]) < len(full)
    assert session.history.messages[1]["role"] == "user"
    # The interrupting utterance is the next turn (its exact words are the ASR's business).
    assert session.history.messages[1]["content"].lower().startswith("sorry")
