"""One measured call of the voice-to-voice benchmark, over gRPC or Twilio Media Streams.

Both speak the turns' utterances at real time, each after the previous reply has played, and
time at the client: from the utterance's last non-silent sample leaving to the first non-silent
agent frame arriving (before the next utterance begins). A call the gateway refuses at admission
(overloaded, or any refusal before the call starts) is returned as refused, not raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import grpc
import numpy as np
from bench.v2v_report import TurnOutcome, Utterance, turns_from_events
from tests.telephony.twilio_peer import PeerCall, TwilioPeer, pcm16_to_mulaw

from switchboard_gateway.events import AgentAudioEvent, CallEndedEvent, OutboundEvent
from switchboard_gateway.metrics import GatewayMetrics
from switchboard_gateway.scripted_caller import ScriptedCaller, Turn, scripted_call
from switchboard_wire.audio import mulaw_decode

SILENT = 300  # |sample| below this (PCM16) counts as silence
#: A reply that has not played this long after the caller's turn ends the call's measuring.
REPLY_TIMEOUT_S = 90.0
#: The Twilio bench's public URL (nothing resolves it: the stand-in calls the port directly).
PUBLIC_URL = "https://bench.invalid"


@dataclass
class CallResult:
    """What one call measured; `refused` says why the gateway did not take it ("" it did)."""

    turns: list[TurnOutcome] = field(default_factory=list)
    underruns: int = 0
    refused: str = ""


def _last_loud(pcm: bytes) -> float:
    loud = np.nonzero(np.abs(np.frombuffer(pcm, "<i2")) > SILENT)[0]
    return (loud[-1] + 1) / 16_000 if loud.size else 0.0


def _loud(frame: bytes) -> bool:
    return bool(np.abs(np.frombuffer(frame, "<i2")).max(initial=0) > SILENT)


def _loud_mulaw(frame: bytes) -> bool:
    return bool(np.abs(mulaw_decode(frame)).max(initial=0) * 32768 > SILENT)


def _voice_to_voice(
    turns: list[TurnOutcome],
    utterances: list[Utterance],
    said: list[tuple[float, float]],
    loud: list[float],
) -> None:
    """Fill each spoken turn's voice-to-voice from the arrival times of loud agent frames."""
    for index, (started, ended) in enumerate(said):
        until = said[index + 1][0] if index + 1 < len(said) else float("inf")
        heard = next((t for t in loud if ended < t < until), None)
        if heard is not None:
            end_of_speech = started + _last_loud(utterances[index].pcm16)
            turns[index].voice_to_voice_s = round(heard - end_of_speech, 3)


def _underruns(arrivals: list[float], first: int) -> int:
    """Gaps of 0.1 to 1 s between agent frames from frame `first` on (inside replies)."""
    count, last = 0, 0.0
    for index, arrived in enumerate(arrivals):
        if index >= first and 0.1 < arrived - last < 1.0:
            count += 1
        last = arrived
    return count


async def grpc_call(
    target: str, agent: str, utterances: list[Utterance], fixed: frozenset[str]
) -> CallResult:
    """One call over gRPC with the scripted caller (`switchboard call`'s)."""
    caller: ScriptedCaller | None = None
    try:
        async with scripted_call(target, agent) as caller:
            with contextlib.suppress(TimeoutError):  # a missed reply: the rest is not spoken
                script = [Turn(audio=u.pcm16) for u in utterances]
                await caller.converse(script, timeout_s=REPLY_TIMEOUT_S)
    except grpc.aio.AioRpcError as error:
        if caller is None or not caller.started:
            return CallResult(refused=error.code().name)
        raise
    if not caller.started:
        ended = caller.seen.of(CallEndedEvent)
        return CallResult(refused=ended[0].reason.value if ended else "no start")
    said = [(s.started_at, s.ended_at) for s in caller.spoken]
    turns = turns_from_events(utterances, [s for s, _ in said], caller.seen.events, fixed)
    frames = [(t, e) for t, e in caller.seen.events if isinstance(e, AgentAudioEvent)]
    _voice_to_voice(turns, utterances, said, [t for t, e in frames if _loud(e.data)])
    first = next((i for i, (_, e) in enumerate(frames) if e.turn > 0), len(frames))
    return CallResult(turns, _underruns([t for t, _ in frames], first))


class GatewayTap:
    """The events a gateway in this process sends on its calls, with their times.

    Twilio's protocol carries audio only: transcripts, reply text and turn latencies of a call
    over it are read here, where the gateway counts its outbound events. Meant for one call at
    a time (events are not told apart by call).
    """

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.events: list[tuple[float, OutboundEvent]] = []
        observe = metrics.observe

        def tapped(agent: str, event: OutboundEvent, tool: str = "") -> None:
            self.events.append((time.monotonic(), event))
            observe(agent, event, tool)

        metrics.observe = tapped  # type: ignore[method-assign]


async def _heard_out(call: PeerCall) -> bool:
    """Wait for agent audio then quiet; False when the gateway closed the stream first."""
    quiet = asyncio.ensure_future(call.quiet(timeout_s=REPLY_TIMEOUT_S))
    closed = asyncio.ensure_future(call.closed.wait())
    done, pending = await asyncio.wait({quiet, closed}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if quiet in done:
        quiet.result()  # a reply that never came raises TimeoutError
        return True
    return False


async def twilio_call(
    url: str,
    agent: str,
    utterances: list[Utterance],
    fixed: frozenset[str],
    token: str,
    tap: GatewayTap | None = None,
) -> CallResult:
    """One call over Twilio's protocol (μ-law 8 kHz) through the Twilio stand-in of the tests.

    With a `tap`, the call's transcripts and turn latencies come from it (one call at a time).
    """
    peer = TwilioPeer(url, PUBLIC_URL, token)
    mulaws = [pcm16_to_mulaw(u.pcm16) for u in utterances]
    try:
        try:
            call = await peer.call(agent)
        except AssertionError as refusal:  # the webhook did not answer 200
            return CallResult(refused=str(refusal)[:100])
        call.open_line()
        if not await _heard_out(call):  # the greeting, or a refusal on the stream
            await call.aclose()
            return CallResult(refused=f"stream closed ({call.heard.close_code})")
        replies_from = len(call.heard.audio_at)
        with contextlib.suppress(TimeoutError):
            for mulaw in mulaws:
                await call.say(mulaw)
                if not await _heard_out(call):
                    break
        await call.stop()
        with contextlib.suppress(TimeoutError):
            await call.wait_closed(10)
    finally:
        await peer.aclose()
    said = call.said
    events: list[tuple[float, OutboundEvent]] = tap.events if tap is not None else []
    turns = turns_from_events(utterances, [s for s, _ in said], events, fixed)
    arrivals, audio = call.heard.audio_at, bytes(call.heard.audio)
    loud = [t for i, t in enumerate(arrivals) if _loud_mulaw(audio[i * 160 : (i + 1) * 160])]
    _voice_to_voice(turns, utterances, said, loud)
    return CallResult(turns, _underruns(arrivals, replies_from))
