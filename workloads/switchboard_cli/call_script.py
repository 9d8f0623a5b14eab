"""Drive one scripted call over gRPC: the greeting, then each turn, waiting for every reply.

A turn's reply is over when the gateway sends that turn's latency event (it does so after the
reply has played). Spoken turns are followed by silence at real time, because the gateway
finds the end of a turn in the caller's audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from switchboard_gateway.client import Call, connect
from switchboard_gateway.events import (
    AgentAudioEvent,
    AgentTextEvent,
    CallEndedEvent,
    CallStarted,
    OutboundEvent,
    TranscriptEvent,
    TurnLatencyEvent,
)

RATE = 16_000
FRAME_BYTES = RATE // 50 * 2  # 20 ms of PCM16
SILENT_FRAME = bytes(FRAME_BYTES)
#: The greeting is over when no agent audio has arrived for this long.
QUIET_S = 0.8
#: An agent without a greeting says nothing: stop waiting for one after this long.
GREETING_WAIT_S = 8.0
START_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Turn:
    """One caller turn: PCM16 audio at 16 kHz, or typed text."""

    audio: bytes | None = None
    text: str | None = None


@dataclass
class TurnOutcome:
    """What was heard and said in one turn."""

    number: int
    caller: str = ""
    agent: str = ""
    latency: dict[str, int] = field(default_factory=dict)


@dataclass
class CallOutcome:
    """Everything a scripted call observed."""

    call_id: str = ""
    greeting: str = ""
    turns: list[TurnOutcome] = field(default_factory=list)
    agent_audio: bytes = b""
    end_reason: str = ""
    end_detail: str = ""
    #: No gateway answered at the target.
    unreachable: bool = False
    #: Why the script could not finish (a reply that never came), or empty.
    incomplete: str = ""

    def to_json(self) -> dict[str, Any]:
        """The outcome as the `--json` document."""
        return {
            "callId": self.call_id,
            "greeting": self.greeting,
            "turns": [
                {"turn": t.number, "caller": t.caller, "agent": t.agent, "latencyMs": t.latency}
                for t in self.turns
            ],
            "agentAudioSeconds": round(len(self.agent_audio) / 2 / RATE, 2),
            "ended": {"reason": self.end_reason, "detail": self.end_detail},
            "incomplete": self.incomplete,
        }


class _Listener:
    """Folds server events into a `CallOutcome` and wakes waiters on every event."""

    def __init__(self, outcome: CallOutcome) -> None:
        self.outcome = outcome
        self.changed = asyncio.Event()
        self.started = False
        #: The call ended (an `ended` event), or its event stream closed.
        self.ended = False
        self.last_audio = 0.0
        self.audio_frames = 0
        self.texts: dict[int, list[str]] = {}
        self.finals: dict[int, str] = {}
        self.latencies: dict[int, TurnLatencyEvent] = {}
        self._audio: list[bytes] = []

    def on(self, event: OutboundEvent) -> None:
        if isinstance(event, CallStarted):
            self.started = True
            self.outcome.call_id = event.call_id
        elif isinstance(event, AgentAudioEvent):
            self._audio.append(event.data)
            self.audio_frames += 1
            self.last_audio = time.monotonic()
        elif isinstance(event, AgentTextEvent):
            self.texts.setdefault(event.turn, []).append(event.text)
        elif isinstance(event, TranscriptEvent) and event.final:
            self.finals[event.turn] = event.text
        elif isinstance(event, TurnLatencyEvent):
            self.latencies[event.turn] = event
        elif isinstance(event, CallEndedEvent):
            self.ended = True
            self.outcome.end_reason, self.outcome.end_detail = event.reason.value, event.detail
        self.changed.set()

    def replied(self, turn: int) -> bool:
        """Whether the reply to `turn` has played (its latency event arrived)."""
        return turn in self.latencies

    async def wait(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until `done()` or the call ended; False on timeout."""
        deadline = time.monotonic() + timeout
        while not done() and not self.ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.1))
        return done() or self.ended

    def finish(self) -> CallOutcome:
        outcome = self.outcome
        outcome.agent_audio = b"".join(self._audio)
        outcome.greeting = " ".join(self.texts.get(0, []))
        for turn in outcome.turns:
            turn.caller = self.finals.get(turn.number, turn.caller)
            turn.agent = " ".join(self.texts.get(turn.number, []))
            latency = self.latencies.get(turn.number)
            if latency is not None:
                turn.latency = {
                    "endpointing": latency.endpointing_ms,
                    "asrFinal": latency.asr_final_ms,
                    "llmFirstToken": latency.llm_ttft_ms,
                    "ttsFirstAudio": latency.tts_ttfb_ms,
                    "voiceToVoice": latency.voice_to_voice_ms,
                }
                if latency.retrieval_ms:
                    turn.latency["retrieval"] = latency.retrieval_ms
        return outcome


async def _greeting(listener: _Listener) -> None:
    if not await listener.wait(lambda: listener.audio_frames > 0, GREETING_WAIT_S):
        return
    await listener.wait(lambda: time.monotonic() - listener.last_audio >= QUIET_S, 60.0)


async def _speak(call: Call, audio: bytes, fast: bool) -> None:
    frames = [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
    started = time.monotonic()
    for index, frame in enumerate(frames):
        await call.send_audio(frame.ljust(FRAME_BYTES, b"\0"))
        if not fast:
            await asyncio.sleep(max(0.0, started + (index + 1) * 0.02 - time.monotonic()))


async def _silence_until(
    call: Call, listener: _Listener, done: Callable[[], bool], timeout: float
) -> bool:
    """Send silence at real time (the gateway's clock) until `done()`; False on timeout."""
    deadline = time.monotonic() + timeout
    next_frame = time.monotonic()
    while not done() and not listener.ended:
        if time.monotonic() > deadline:
            return False
        await call.send_audio(SILENT_FRAME)
        next_frame += 0.02
        await asyncio.sleep(max(0.0, next_frame - time.monotonic()))
    return True


async def _script(
    call: Call, listener: _Listener, turns: list[Turn], fast: bool, timeout: float
) -> None:
    if not await listener.wait(lambda: listener.started, START_TIMEOUT_S) or listener.ended:
        if not listener.ended:
            listener.outcome.incomplete = f"the call did not start within {START_TIMEOUT_S:.0f} s"
        return
    await _greeting(listener)
    for turn in turns:
        number = max([0, *listener.finals]) + 1
        listener.outcome.turns.append(TurnOutcome(number, turn.text or ""))
        if turn.text is not None:
            await call.send_text(turn.text)
            replied = await listener.wait(functools.partial(listener.replied, number), timeout)
        else:
            await _speak(call, turn.audio or b"", fast)
            replied = await _silence_until(
                call, listener, functools.partial(listener.replied, number), timeout
            )
        if listener.ended:
            return
        if not replied:
            heard = number in listener.finals
            listener.outcome.incomplete = (
                f"turn {number}: no reply within {timeout:.0f} s"
                if heard
                else f"turn {number}: the agent heard no speech within {timeout:.0f} s"
            )
            return


async def run_call(
    target: str,
    agent: str,
    turns: list[Turn],
    *,
    api_key: str = "",
    fast: bool = False,
    timeout: float = 60.0,
) -> CallOutcome:
    """Place one call, run the script, hang up, and report what happened."""
    listener = _Listener(CallOutcome())

    async def read(call: Call) -> None:
        try:
            async for event in call.events():
                listener.on(event)
        finally:
            listener.ended = True
            listener.changed.set()

    try:
        async with connect(target, agent, api_key=api_key) as call:
            reader = asyncio.create_task(read(call), name="call-events")
            try:
                await _script(call, listener, turns, fast, timeout)
                if not listener.ended:
                    await call.hangup("done")
                try:
                    await asyncio.wait_for(asyncio.shield(reader), 10.0)
                except TimeoutError:
                    listener.outcome.incomplete = "the call did not end within 10 s of hanging up"
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                if reader.done() and not reader.cancelled() and reader.exception() is not None:
                    raise reader.exception()  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.UNAVAILABLE and not listener.started:
            listener.outcome.unreachable = True
        else:
            listener.outcome.end_reason = listener.outcome.end_reason or "internal_error"
            listener.outcome.end_detail = f"{error.code().name}: {error.details()}"
    return listener.finish()
