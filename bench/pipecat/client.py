"""The benchmark caller for the Pipecat baseline (runs in Switchboard's virtualenv).

Measures as bench/voice_to_voice.py's caller does: each utterance is sent at real time in 20 ms
frames, followed by silence at real time until the reply has finished playing; voice-to-voice
runs from the utterance's last non-silent sample leaving to the first non-silent agent frame
that arrived after the utterance was sent and before the next one began. Pipecat has no
"reply played" event, so a reply is over once no non-silent agent audio has arrived for
`QUIET_S` (Pipecat's output transport sends audio at playback pace, so arrival is playback).
No non-silent audio within the reply timeout of the utterance's end is a missed reply; the
call goes on with the next utterance. What the bot heard is assigned to turns by arrival time:
a transcript that comes after the next utterance began counts for that one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import websockets
from bench.pipecat.pcm import FRAME_BYTES, FRAME_S, frames, is_loud, last_loud_s

#: A reply is over after this long without non-silent agent audio. Longer than a pause between
#: sentences; it only delays the next utterance, never a measured latency.
QUIET_S = 1.5
#: The greeting must start within this long of connecting.
GREETING_TIMEOUT_S = 60.0
#: The client keeps trying to connect this long while the bot loads its models.
CONNECT_TIMEOUT_S = 180.0


@dataclass(frozen=True, slots=True)
class Spoken:
    """When one utterance was sent: monotonic start/end, wall-clock start, last loud sample."""

    started_at: float
    ended_at: float
    wall_started_at: float
    speech_s: float


@dataclass
class CallLog:
    """What the caller sent and when each agent message arrived (monotonic seconds)."""

    spoken: list[Spoken] = field(default_factory=list)
    arrivals: list[tuple[float, bool]] = field(default_factory=list)  # (arrived, loud)


def turn_latencies(log: CallLog) -> list[float | None]:
    """Voice-to-voice of each turn (None: no agent audio before the next utterance)."""
    loud = [t for t, is_loud_ in log.arrivals if is_loud_]
    latencies: list[float | None] = []
    for index, utterance in enumerate(log.spoken):
        until = log.spoken[index + 1].started_at if index + 1 < len(log.spoken) else float("inf")
        heard = next((t for t in loud if utterance.ended_at < t < until), None)
        end_of_speech = utterance.started_at + utterance.speech_s
        latencies.append(None if heard is None else round(heard - end_of_speech, 3))
    return latencies


def heard_per_turn(log: CallLog, transcripts: Sequence[tuple[float, str]]) -> list[str]:
    """The bot's transcripts (wall-clock time, text) assigned to the turn being spoken then."""
    heard: list[list[str]] = [[] for _ in log.spoken]
    for at, text in sorted(transcripts):
        turn = None
        for index, utterance in enumerate(log.spoken):
            if at >= utterance.wall_started_at:
                turn = index
        if turn is not None:
            heard[turn].append(text.strip())
    return [" ".join(parts) for parts in heard]


class _Line:
    """One websocket call: a receiver task logging arrivals, senders pacing at real time."""

    def __init__(self, socket: websockets.ClientConnection, log: CallLog) -> None:
        self._socket, self._log = socket, log
        self.last_loud = 0.0

    async def receive(self) -> None:
        async for message in self._socket:
            if isinstance(message, bytes):
                now, loud = time.monotonic(), is_loud(message)
                self._log.arrivals.append((now, loud))
                if loud:
                    self.last_loud = now

    async def send_paced(self, pcm: bytes) -> None:
        started = time.monotonic()
        for index, frame in enumerate(frames(pcm)):
            await self._socket.send(frame)
            await asyncio.sleep(max(0.0, started + (index + 1) * FRAME_S - time.monotonic()))

    async def silence_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        next_frame = time.monotonic()
        while not done():
            if time.monotonic() > deadline:
                return False
            await self._socket.send(bytes(FRAME_BYTES))
            next_frame += FRAME_S
            await asyncio.sleep(max(0.0, next_frame - time.monotonic()))
        return True

    async def until_reply_over(self, since: float, timeout_s: float) -> None:
        """Silence until a reply that began after `since` has gone quiet, or the timeout."""
        if not await self.silence_until(lambda: self.last_loud > since, timeout_s):
            return
        await self.silence_until(lambda: time.monotonic() - self.last_loud >= QUIET_S, 120.0)


async def _connect(url: str) -> websockets.ClientConnection:
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        try:
            return await websockets.connect(url, open_timeout=5, max_size=None)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def call(url: str, utterances: Sequence[bytes], reply_timeout_s: float) -> CallLog:
    """One call: wait out the greeting, then each utterance and its reply."""
    log = CallLog()
    socket = await _connect(url)
    line = _Line(socket, log)
    receiver = asyncio.create_task(line.receive())
    try:
        await line.until_reply_over(0.0, GREETING_TIMEOUT_S)
        for pcm in utterances:
            wall, started = time.time(), time.monotonic()
            await line.send_paced(pcm)
            ended = time.monotonic()
            log.spoken.append(Spoken(started, ended, wall, last_loud_s(pcm)))
            await line.until_reply_over(ended, reply_timeout_s)
    finally:
        await socket.close()
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await receiver
    return log
