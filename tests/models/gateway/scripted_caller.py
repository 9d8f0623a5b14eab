"""A scripted caller: speaks Piper utterances at real time in 20 ms frames, waits for replies.

Transport-neutral: `send_audio` puts caller audio on the wire, and every server event is handed
to `on_event`. Tests wire it to a session in-process, to the gRPC client or to a WebSocket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from switchboard_api.pipeline import TtsSpec
from switchboard_gateway.events import (
    AgentAudioEvent,
    CallEndedEvent,
    ClearEvent,
    OutboundEvent,
    TranscriptEvent,
    TurnLatencyEvent,
)
from switchboard_serve.audio import resample
from switchboard_serve.packaged import piper_voice_path
from switchboard_serve.tts.piper import PiperEngine

FRAME_S = 0.02
RATE = 16_000


def synthesise(texts: list[str]) -> list[bytes]:
    """Each text as 16 kHz PCM16, spoken by Piper."""
    tts = PiperEngine(TtsSpec(), piper_voice_path())
    out = []
    for text in texts:
        audio = resample(np.concatenate(list(tts.synthesize(text))), tts.sample_rate, RATE)
        out.append(np.clip(np.round(audio * 32768), -32768, 32767).astype("<i2").tobytes())
    return out


@dataclass
class Transcript:
    """Everything the caller observed, with arrival times."""

    events: list[tuple[float, OutboundEvent]] = field(default_factory=list)
    last_audio_at: float = 0.0
    latencies: int = 0

    def of(self, kind: type) -> list[object]:
        """Events of one type, in order."""
        return [e for _, e in self.events if isinstance(e, kind)]


class ScriptedCaller:
    """Drives one call."""

    def __init__(self, send_audio: Callable[[bytes], Awaitable[None]]) -> None:
        self._send_audio = send_audio
        self.seen = Transcript()
        self._changed = asyncio.Event()
        self.speech_end_times: list[float] = []

    def on_event(self, event: OutboundEvent) -> None:
        """Record a server event."""
        now = time.monotonic()
        self.seen.events.append((now, event))
        if isinstance(event, AgentAudioEvent):
            self.seen.last_audio_at = now
        if isinstance(event, TurnLatencyEvent):
            self.seen.latencies += 1
        self._changed.set()

    @property
    def ended(self) -> bool:
        """Whether the call is over."""
        return bool(self.seen.of(CallEndedEvent))

    async def silence(self, seconds: float) -> None:
        """Send silence at real time."""
        await self.speak(b"\x00\x00" * int(seconds * RATE))

    async def speak(self, pcm16: bytes) -> None:
        """Send `pcm16` at real time in 20 ms frames."""
        frame = int(FRAME_S * RATE) * 2
        started = time.monotonic()
        for i, start in enumerate(range(0, len(pcm16), frame)):
            if self.ended:
                return
            await self._send_audio(pcm16[start : start + frame])
            delay = started + (i + 1) * FRAME_S - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def wait_for_agent(self, turns_done: int, timeout_s: float = 60.0) -> None:
        """Keep sending silence until `turns_done` turns finished and their audio played."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.ended:
            quiet = time.monotonic() - self.seen.last_audio_at > 0.6
            if self.seen.latencies >= turns_done and quiet:
                return
            await self.silence(0.1)
        if not self.ended:
            raise TimeoutError(f"the agent did not finish turn {turns_done} in {timeout_s} s")

    async def hold_conversation(
        self, utterances: list[bytes], greeting: bool = True, turn_timeout_s: float = 60.0
    ) -> None:
        """Greeting, then each utterance after the agent's previous reply."""
        await self.silence(0.3)
        if greeting:
            await self.wait_for_agent(0, turn_timeout_s)
            while not self.seen.of(AgentAudioEvent):
                await self.silence(0.1)
            await self.wait_for_agent(0, turn_timeout_s)
        for number, utterance in enumerate(utterances, start=1):
            await self.speak(utterance)
            self.speech_end_times.append(time.monotonic())
            await self.wait_for_agent(number, turn_timeout_s)

    def finals(self) -> list[str]:
        """The final transcripts, in order."""
        return [e.text for e in self.seen.of(TranscriptEvent) if e.final]  # type: ignore[attr-defined]

    def clears(self) -> list[object]:
        """The barge-in clears received."""
        return self.seen.of(ClearEvent)
