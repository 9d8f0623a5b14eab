"""A recorded call, heard back: whisper finds the caller's words left and the agent's right.

A spoken call over the WebSocket transport with `callPolicy.recording` on: the caller barges in
on the greeting, then asks a question. The stored WAV's left channel transcribes back to what
the caller said, its right channel to what the agent said, and the greeting stops where the
clear happened (what was sent ahead and never played is not in the file).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect

from switchboard_api.pipeline import AsrSpec
from switchboard_gateway.events import AgentAudioEvent, CallStarted, ClearEvent
from switchboard_gateway.records.model import CallRecord, CallStore
from switchboard_gateway.records.recordings import DirectoryRecordings
from switchboard_gateway.records.sqlite import SqliteCallStore
from switchboard_gateway.scripted_caller import ScriptedCaller
from switchboard_serve.asr.faster_whisper import FasterWhisperEngine
from switchboard_serve.evaluation import word_error_rate
from switchboard_serve.packaged import whisper_model_dir
from tests.models.gateway.harness import API_KEY, ws_gateway
from tests.speech import synthesise
from tests.ws_caller import feed_ws_events

pytestmark = pytest.mark.models

INTERRUPTION = "Sorry, what are your opening hours?"
QUESTION = "Is there parking near the clinic?"
GREETING = "Hello, thanks for calling Acme Dental. How can I help?"
START = {"type": "start", "agent": "acme/receptionist", "apiKey": API_KEY}
RATE = 16_000


def _channels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path)) as reader:
        assert (reader.getnchannels(), reader.getframerate()) == (2, RATE)
        frames = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1, 2)
    audio = frames.astype(np.float32) / 32768
    return audio[:, 0].copy(), audio[:, 1].copy()


def _loud(samples: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Indices of 10 ms blocks whose peak is above `threshold`."""
    blocks = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    return np.flatnonzero(np.abs(blocks).max(axis=1) > threshold)


def _record(path: Path, call_id: str) -> CallRecord | None:
    async def read() -> CallRecord | None:
        store = SqliteCallStore(path)
        try:
            return await store.get(call_id)
        finally:
            await store.close()

    return asyncio.run(read())


def test_a_recorded_call_holds_the_callers_words_left_and_the_agents_right_cut_at_barge_in(
    base_url: str, tmp_path: Path
) -> None:
    interruption, question = synthesise([INTERRUPTION, QUESTION])
    database = tmp_path / "calls.db"

    async def sqlite() -> CallStore:
        return SqliteCallStore(database)

    changes = {
        "spec.callPolicy.recording": True,
        "spec.callPolicy.bargeIn": {"minSpeechMs": 50},
        "spec.pipeline.vad": {"minSpeechMs": 64},
    }
    with ws_gateway(base_url, 20, sqlite, **changes) as (gateway, url):
        agents = dict(gateway.agents)
        for key, entry in agents.items():  # as build_gateway marks agents with recording on
            agents[key] = dataclasses.replace(entry, recorded=entry.config.call_policy.recording)
        gateway.agents = agents
        gateway.recordings = DirectoryRecordings(tmp_path / "recordings")

        async def call() -> tuple[ScriptedCaller, float]:
            async with connect(url) as socket:
                began = time.monotonic()
                await socket.send(json.dumps(START))
                caller = ScriptedCaller(socket.send)
                reader = asyncio.create_task(feed_ws_events(socket, caller))
                while not caller.seen.of(AgentAudioEvent):
                    await caller.silence(0.02)
                await caller.silence(0.8)  # the greeting is playing
                await caller.speak(interruption)
                await caller.wait_for_reply(1)
                await caller.speak(question)
                await caller.wait_for_reply(2)
                await caller.silence(0.5)
                await socket.send(json.dumps({"type": "hangup", "reason": "done"}))
                await asyncio.wait_for(reader, 10)
                return caller, began

        caller, began = asyncio.run(call())
        (started,) = caller.seen.of(CallStarted)
        deadline = time.monotonic() + 30
        record = _record(database, started.call_id)
        while (record is None or not record.recording) and time.monotonic() < deadline:
            time.sleep(0.2)
            record = _record(database, started.call_id)
    assert record is not None
    assert record.recording.startswith("file:acme/receptionist/")
    left, right = _channels(tmp_path / "recordings" / record.recording.removeprefix("file:"))

    asr = FasterWhisperEngine(AsrSpec(), whisper_model_dir(), cpu_threads=2)
    caller_words = asr.transcribe(left).text
    assert word_error_rate([(f"{INTERRUPTION} {QUESTION}", caller_words)]) <= 0.2, caller_words

    # Where the clear cut the greeting, on the recording's clock (it starts with the call).
    ((cleared_at, _),) = [(t, e) for t, e in caller.seen.events if isinstance(e, ClearEvent)]
    first_frame_at = next(t for t, e in caller.seen.events if isinstance(e, AgentAudioEvent))
    loud = _loud(right)
    greeting_starts = loud[0] / 100
    cut = greeting_starts + (cleared_at - first_frame_at)
    assert abs(greeting_starts - (first_frame_at - began)) < 0.5
    greeting_blocks = loud[loud / 100 < cut + 0.1]
    assert greeting_blocks[-1] / 100 > cut - 0.5, "the greeting played until the barge-in"
    after = loud[(loud / 100 >= cut + 0.1)]
    assert after[0] / 100 > cut + 0.4, "nothing sent ahead of the clear is in the recording"

    greeting_heard = asr.transcribe(right[: int((cut + 0.1) * RATE)]).text
    heard_words = greeting_heard.lower().replace(",", "").replace(".", "").split()
    full_words = GREETING.lower().replace(",", "").replace(".", "").replace("?", "").split()
    assert 0 < len(heard_words) < len(full_words) - 2, greeting_heard
    assert heard_words[0] == full_words[0], greeting_heard
    replies = " ".join(turn.agent_text for turn in record.turns if turn.number > 0)
    agent_words = asr.transcribe(right[int((cut + 0.1) * RATE) :]).text
    print(f"left: {caller_words!r}\nright until the cut at {cut:.2f} s: {greeting_heard!r}")
    print(f"right after: {agent_words!r} (said: {replies!r})")
    assert word_error_rate([(replies, agent_words)]) <= 0.25, (replies, agent_words)
