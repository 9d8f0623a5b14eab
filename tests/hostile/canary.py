"""The canary: one well-behaved gRPC call in its own process, timing every agent audio frame.

    python -m tests.hostile.canary TARGET TOKEN OUT.json [--text TEXT | SPEECH.pcm ...]

It runs apart from the fuzzers so that their load on the client side cannot show up as gaps in
its audio. Per reply it reports the frames received, the worst gap between consecutive frames of
one piece (sentence) of the reply, and the worst wait between pieces (time spent before a reply's
first frame, on ASR and the LLM, is neither).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from switchboard_gateway.events import (
    AgentAudioEvent,
    AgentTextEvent,
    CallEndedEvent,
    ClearEvent,
    TurnLatencyEvent,
)
from switchboard_gateway.rpc import call_pb2 as pb
from switchboard_gateway.rpc import call_pb2_grpc
from switchboard_gateway.scripted_caller import CallOutcome, ScriptedCaller, Turn
from switchboard_gateway.transports.grpc.codec import outbound_from_proto

AGENT = "receptionist"


async def place(target: str, token: str, turns: list[Turn]) -> ScriptedCaller:
    """Place the call, take `turns`, hang up; the caller holds every event with its arrival."""
    outbox: asyncio.Queue[pb.ClientEvent | None] = asyncio.Queue()
    outbox.put_nowait(pb.ClientEvent(start=pb.Start(agent=AGENT, client_reference="canary")))

    async def requests() -> AsyncIterator[pb.ClientEvent]:
        while (event := await outbox.get()) is not None:
            yield event

    async def send_audio(data: bytes) -> None:
        await outbox.put(pb.ClientEvent(audio=pb.Audio(data=data)))

    async def send_text(text: str) -> None:
        await outbox.put(pb.ClientEvent(text=pb.Text(text=text)))

    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = call_pb2_grpc.CallServiceStub(channel)
        stream = stub.Converse(requests(), metadata=metadata)
        caller = ScriptedCaller(send_audio, send_text)

        async def read() -> None:
            try:
                async for message in stream:
                    event = outbound_from_proto(message)
                    caller.on_event(event)
                    if isinstance(event, CallEndedEvent):
                        return
            finally:
                caller.closed()

        reader = asyncio.create_task(read())
        try:
            await caller.converse(turns, timeout_s=120)
            if not caller.ended:
                await outbox.put(pb.ClientEvent(hangup=pb.Hangup(reason="done")))
            await asyncio.wait_for(reader, 20)
        finally:
            await outbox.put(None)
            stream.cancel()
            reader.cancel()
    return caller


def _gaps(frames: list[tuple[float, int]]) -> tuple[float, float]:
    """(worst gap within one piece, worst wait between pieces), in ms, of one reply's frames."""
    within, between = [0.0], [0.0]
    for (a, piece_a), (b, piece_b) in itertools.pairwise(frames):
        (within if piece_a == piece_b else between).append(1000 * (b - a))
    return max(within), max(between)


def report(caller: ScriptedCaller, began: float) -> dict[str, Any]:
    """Frames, gaps and latency per reply, and whether the audio is whole.

    The gateway sends a piece's `agentText` just before that piece's audio, once the previous
    piece has played; the time between pieces is the model plane synthesising the next one. A
    gap *within* a piece is the gateway's pacing alone: that is what a flood could disturb.
    """
    frames: dict[int, list[tuple[float, int]]] = {}
    pieces: dict[int, int] = {}
    sequences = []
    for at, event in caller.seen.events:
        if isinstance(event, AgentTextEvent):
            pieces[event.turn] = pieces.get(event.turn, 0) + 1
        elif isinstance(event, AgentAudioEvent):
            frames.setdefault(event.turn, []).append((at, pieces.get(event.turn, 0)))
            sequences.append(event.sequence)
    latencies = {e.turn: e.voice_to_voice_ms for e in caller.seen.of(TurnLatencyEvent)}
    outcome = CallOutcome.of(caller)
    replies = []
    for turn, got in sorted(frames.items()):
        within, between = _gaps(got)
        replies.append({
            "turn": turn,
            "frames": len(got),
            "pieces": pieces.get(turn, 0),
            "audioSeconds": round(len(got) * 0.02, 2),
            "firstFrameAt": round(got[0][0] - began, 3),
            "lastFrameAt": round(got[-1][0] - began, 3),
            "worstGapMs": round(within, 1),
            "worstWaitBetweenPiecesMs": round(between, 1),
            "voiceToVoiceMs": latencies.get(turn, 0),
        })  # fmt: skip
    first = sequences[0] if sequences else 0
    return {
        "callId": outcome.call_id,
        "endReason": outcome.end_reason,
        "heard": [t.caller for t in outcome.turns],
        "replies": replies,
        "frames": len(sequences),
        "sequencesContiguous": bool(sequences)
        and sequences == list(range(first, first + len(sequences))),
        "clears": len(caller.seen.of(ClearEvent)),
        "incompleteTurns": [n for n, _ in caller.script if n not in latencies],
    }


def main(argv: list[str]) -> int:
    """Run the canary and write its report as JSON."""
    target, token, out, *rest = argv
    if rest[:1] == ["--text"]:
        turns = [Turn(text=rest[1])]
    else:
        turns = [Turn(audio=Path(p).read_bytes()) for p in rest]
    began = time.monotonic()
    caller = asyncio.run(place(target, token, turns))
    result = report(caller, began)
    # CLOCK_MONOTONIC is system-wide on Linux: the fuzz process compares its times with these.
    result["began"], result["seconds"] = began, round(time.monotonic() - began, 3)
    Path(out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
