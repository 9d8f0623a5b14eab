"""The caller: speaks PCM16 at real time, waits on what the gateway says, keeps it with times."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from switchboard_gateway.events import (
    AgentAudioEvent,
    CallEndedEvent,
    CallStarted,
    OutboundEvent,
    TranscriptEvent,
    TurnLatencyEvent,
)

RATE = 16_000
FRAME_S = 0.02
#: |sample| (PCM16) at or below this counts as silence when finding where speech ends.
QUIET = 300
#: 20 ms of PCM16 at 16 kHz.
FRAME_BYTES = int(RATE * FRAME_S) * 2
#: The greeting is over when no agent audio has arrived for this long.
QUIET_S = 0.8
#: An agent without a greeting says nothing: stop waiting for one after this long.
GREETING_WAIT_S = 8.0
START_TIMEOUT_S = 15.0
#: How often a wait that sends nothing looks again (it also wakes on every event).
_POLL_S = 0.1

E = TypeVar("E")
SendAudio = Callable[[bytes], Awaitable[None]]
SendText = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Turn:
    """One caller turn: PCM16 audio at 16 kHz, or typed text."""

    audio: bytes | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Spoken:
    """When one utterance's first frame left and when its last frame's time was up."""

    started_at: float
    ended_at: float
    #: When its last voiced sample left (its trailing silence not counted).
    voice_ended_at: float = 0.0


@dataclass
class Seen:
    """Every server event the caller received, with its arrival time (`time.monotonic()`)."""

    events: list[tuple[float, OutboundEvent]] = field(default_factory=list)

    def of(self, kind: type[E]) -> list[E]:
        """Events of one type, in order of arrival."""
        return [event for _, event in self.events if isinstance(event, kind)]


class ScriptedCaller:
    """One caller on one call: speaks, types and waits, and keeps everything the gateway sent.

    `send_audio` puts a PCM16 frame on the wire and `send_text` a typed turn; the transport hands
    every server event to `on_event` and calls `closed` when its stream ends.
    """

    def __init__(self, send_audio: SendAudio, send_text: SendText | None = None) -> None:
        self._send_audio, self._send_text = send_audio, send_text
        self.seen = Seen()
        #: The utterances `speak` sent, in order.
        self.spoken: list[Spoken] = []
        #: The turns `converse` took, each with the gateway's number for it.
        self.script: list[tuple[int, Turn]] = []
        self._changed = asyncio.Event()
        self._started = self._ended = self._closed = False
        self._audio_frames = 0
        self._last_audio_at = 0.0
        self._finals: dict[int, str] = {}
        #: When each turn's (latest) final transcript arrived.
        self._final_at: dict[int, float] = {}
        self._replied: set[int] = set()

    def on_event(self, event: OutboundEvent) -> None:
        """Record a server event with its arrival time, and wake whatever waits on it."""
        now = time.monotonic()
        self.seen.events.append((now, event))
        if isinstance(event, CallStarted):
            self._started = True
        elif isinstance(event, AgentAudioEvent):
            self._audio_frames += 1
            self._last_audio_at = now
        elif isinstance(event, TranscriptEvent) and event.final:
            self._finals[event.turn] = event.text
            self._final_at[event.turn] = now
        elif isinstance(event, TurnLatencyEvent):
            self._replied.add(event.turn)
        elif isinstance(event, CallEndedEvent):
            self._ended = True
        self._changed.set()

    def closed(self) -> None:
        """The server's event stream ended (with or without an `ended` event)."""
        self._closed = True
        self._changed.set()

    @property
    def started(self) -> bool:
        """Whether the gateway accepted the call."""
        return self._started

    @property
    def ended(self) -> bool:
        """Whether the call is over: it ended, or its event stream closed."""
        return self._ended or self._closed

    def finals(self) -> list[str]:
        """The caller's final transcripts, in order."""
        return [event.text for event in self.seen.of(TranscriptEvent) if event.final]

    def replied(self, turn: int) -> bool:
        """Whether the reply to `turn` is over: the gateway sends its latency once it has played."""
        return turn in self._replied

    def answered_since(self, turn: int, since: float) -> bool:
        """Whether words spoken as `turn` until `since` were heard to their end and answered.

        The last turn heard must be `turn` or later, its final transcript must have come after
        `since`, and its reply must be over. A turn the gateway ended at a pause while the
        caller went on is thus not taken for the answer: their words after the pause make a
        later turn, or continue the same one, and its transcript comes after they stop.
        """
        last = max(self._finals, default=0)
        return last >= turn and self._final_at[last] >= since and last in self._replied

    async def speak(self, pcm16: bytes, *, fast: bool = False) -> None:
        """Send 16 kHz PCM16 in 20 ms frames at real time (`fast`: as fast as the wire takes)."""
        started = time.monotonic()
        await self._send_frames(pcm16, fast=fast)
        ended = time.monotonic()
        self.spoken.append(Spoken(started, ended, min(ended, started + _voiced_s(pcm16))))

    async def silence(self, seconds: float) -> None:
        """Send `seconds` of silence at real time."""
        await self._send_frames(bytes(2 * int(seconds * RATE)), fast=False)

    async def silence_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Send silence at real time until `done()` or the call ends; False on timeout."""
        deadline = time.monotonic() + timeout_s
        next_frame = time.monotonic()
        while not done() and not self.ended:
            if time.monotonic() > deadline:
                return False
            await self._send_audio(bytes(FRAME_BYTES))
            next_frame += FRAME_S
            await asyncio.sleep(max(0.0, next_frame - time.monotonic()))
        return True

    async def wait(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Wait, sending nothing, until `done()` or the call ends; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while not done() and not self.ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, _POLL_S))
        return True

    async def wait_for_greeting(self, timeout_s: float = GREETING_WAIT_S) -> bool:
        """Send silence while the greeting plays; False when no agent audio came in `timeout_s`."""
        if not await self.silence_until(lambda: self._audio_frames > 0, timeout_s):
            return False

        def quiet() -> bool:
            return time.monotonic() - self._last_audio_at >= QUIET_S

        return await self.silence_until(quiet, 60.0)

    async def wait_for_reply(
        self,
        turn: int,
        timeout_s: float = 60.0,
        *,
        silence: bool = True,
        spoken_until: float | None = None,
    ) -> None:
        """Until the reply to `turn` is over, sending silence at real time (or nothing).

        With `spoken_until` (when the caller's words stopped), the reply to all of them
        (`answered_since`). Returns early when the call ends; raises `TimeoutError` saying
        whether the agent heard no speech or did not reply in time.
        """
        done = (
            functools.partial(self.replied, turn)
            if spoken_until is None
            else functools.partial(self.answered_since, turn, spoken_until)
        )
        if await (self.silence_until(done, timeout_s) if silence else self.wait(done, timeout_s)):
            return
        if turn in self._finals:
            raise TimeoutError(f"turn {turn}: no reply within {timeout_s:.0f} s")
        raise TimeoutError(f"turn {turn}: the agent heard no speech within {timeout_s:.0f} s")

    async def converse(
        self,
        turns: Sequence[Turn],
        *,
        fast: bool = False,
        timeout_s: float = 60.0,
        greeting_wait_s: float = GREETING_WAIT_S,
    ) -> None:
        """Wait for the call to start and for its greeting, then take each turn in order.

        A spoken turn is followed by silence at real time (the gateway finds the end of a turn in
        the caller's audio) until its reply is over; a typed turn waits for its reply. Returns
        early when the call ends; raises `TimeoutError` naming what did not come in time.
        """
        if not await self.wait(lambda: self.started, START_TIMEOUT_S):
            raise TimeoutError(f"the call did not start within {START_TIMEOUT_S:.0f} s")
        if self.ended:
            return
        await self.wait_for_greeting(greeting_wait_s)
        for turn in turns:
            number = max([0, *self._finals]) + 1
            self.script.append((number, turn))
            spoken_until = None
            if turn.text is not None:
                await self._type(turn.text)
            else:
                await self.speak(turn.audio or b"", fast=fast)
                spoken_until = self.spoken[-1].voice_ended_at
            await self.wait_for_reply(
                number, timeout_s, silence=turn.text is None, spoken_until=spoken_until
            )
            if self.ended:
                return

    async def _type(self, text: str) -> None:
        if self._send_text is None:
            raise TypeError("this caller was given no way to send text (send_text)")
        await self._send_text(text)

    async def _send_frames(self, pcm16: bytes, *, fast: bool) -> None:
        started = time.monotonic()
        for index, start in enumerate(range(0, len(pcm16), FRAME_BYTES)):
            if self.ended:
                return
            await self._send_audio(pcm16[start : start + FRAME_BYTES].ljust(FRAME_BYTES, b"\0"))
            if not fast:
                await asyncio.sleep(max(0.0, started + (index + 1) * FRAME_S - time.monotonic()))


def _voiced_s(pcm16: bytes) -> float:
    """Seconds into 16 kHz PCM16 audio up to its last sample louder than near-silence."""
    samples = np.frombuffer(pcm16[: len(pcm16) // 2 * 2], "<i2").astype(np.int32)
    loud = np.flatnonzero(np.abs(samples) > QUIET)
    return float(loud[-1] + 1) / RATE if loud.size else 0.0
