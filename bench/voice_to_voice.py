"""Voice-to-voice latency of whole calls over gRPC or Twilio Media Streams, on this machine.

    .venv/bin/python bench/voice_to_voice.py [--turns 20] [--sweep 1,2,4,6] [--sweep-turns 4]
        [--transport grpc|twilio]

Starts the packaged model plane on a local Ray Serve, then the gateway in this process as a pod
and `switchboard up` start it (`GatewayServer.start` + `warm_up`: models warmed, greeting
cached), then drives scripted callers over gRPC (`switchboard_gateway.scripted_caller`, the one
behind `switchboard call`): Piper utterances sent at real time in 20 ms frames, each turn after
the previous reply has played. Voice-to-voice is
measured at the client: the end of the caller's speech (its last non-silent sample leaving)
to the first non-silent agent audio frame arriving. Also reported: the gateway's own per-stage
breakdown (TurnLatency events) and, per concurrency level, p50/p95 and audio underruns (gaps
over 100 ms between agent frames inside a reply). Prints JSON.

`--transport twilio` calls over Twilio's protocol instead (μ-law 8 kHz): the Twilio stand-in of
the tests rings the agent through its signed webhook and streams a continuous line (silence
between utterances, as a phone does), playing agent audio and echoing marks as Twilio does. Its
figures are measured the same way at the client; the per-stage breakdown, which the protocol
does not carry, comes from the gateway's call records.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import ray

from switchboard_api.gateway import GatewayConfig
from switchboard_api.manifests import parse_manifest
from switchboard_api.pipeline import TtsSpec
from switchboard_api.resources import VoiceAgent
from switchboard_api.serving import agent_request, model_plane
from switchboard_gateway.events import AgentAudioEvent, TurnLatencyEvent
from switchboard_gateway.records.model import CallRecord
from switchboard_gateway.scripted_caller import ScriptedCaller, Turn, scripted_call
from switchboard_gateway.server import GatewayServer
from switchboard_serve import local
from switchboard_serve.packaged import piper_voice_path
from switchboard_serve.tts.piper import PiperEngine
from switchboard_wire.audio import float_to_pcm16, mulaw_decode, resample

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.telephony.twilio_peer import TwilioPeer, pcm16_to_mulaw

AGENT = "bench/receptionist"
QUESTIONS = [
    "What time do you open on Saturday?",
    "Is there parking near the clinic?",
    "Can I book an appointment for Tuesday?",
    "Do you take new patients?",
    "How much is a cleaning?",
]
SILENT = 300  # |sample| below this (PCM16) counts as silence
#: A reply that has not played this long after the caller's turn fails the run.
REPLY_TIMEOUT_S = 90.0


@dataclass
class CallResult:
    """What one scripted call measured."""

    voice_to_voice_s: list[float] = field(default_factory=list)
    stages: list[TurnLatencyEvent] = field(default_factory=list)
    underruns: int = 0


def _speech(texts: list[str]) -> list[bytes]:
    tts = PiperEngine(TtsSpec(), piper_voice_path())
    return [
        float_to_pcm16(resample(np.concatenate(list(tts.synthesize(t))), tts.sample_rate, 16_000))
        for t in texts
    ]


def _last_loud(pcm: bytes) -> float:
    samples = np.abs(np.frombuffer(pcm, "<i2"))
    loud = np.nonzero(samples > SILENT)[0]
    return (loud[-1] + 1) / 16_000 if loud.size else 0.0


def _loud(frame: bytes) -> bool:
    return bool(np.abs(np.frombuffer(frame, "<i2")).max(initial=0) > SILENT)


def measure(caller: ScriptedCaller, utterances: list[bytes]) -> CallResult:
    """Voice-to-voice per turn and underruns, from the arrival times the caller kept.

    A turn's voice-to-voice runs from its last non-silent sample leaving to the first non-silent
    agent frame that arrived after the utterance was sent (and before the next one began).
    """
    frames = [(t, e) for t, e in caller.seen.events if isinstance(e, AgentAudioEvent)]
    loud = [t for t, e in frames if _loud(e.data)]
    result = CallResult(stages=caller.seen.of(TurnLatencyEvent))
    spoken = caller.spoken
    for index, (utterance, pcm) in enumerate(zip(spoken, utterances, strict=False)):
        until = spoken[index + 1].started_at if index + 1 < len(spoken) else float("inf")
        heard = next((t for t in loud if utterance.ended_at < t < until), None)
        if heard is not None:
            result.voice_to_voice_s.append(heard - (utterance.started_at + _last_loud(pcm)))
    last_frame = 0.0
    for arrived, frame in frames:
        if frame.turn > 0 and 0.1 < arrived - last_frame < 1.0:
            result.underruns += 1
        last_frame = arrived
    return result


async def measured_call(target: str, utterances: list[bytes], turns: int) -> CallResult:
    """One call of `turns` turns; returns the client-side measurements."""
    spoken = [utterances[turn % len(utterances)] for turn in range(turns)]
    async with scripted_call(target, AGENT) as caller:
        await caller.converse([Turn(audio=pcm) for pcm in spoken], timeout_s=REPLY_TIMEOUT_S)
    return measure(caller, spoken)


#: The Twilio bench's public URL (nothing resolves it: the stand-in calls the port directly).
PUBLIC_URL = "https://bench.invalid"
TOKEN_ENV = "SWITCHBOARD_SECRET_TWILIO_BENCH_TOKEN"  # noqa: S105 (a variable name)


@dataclass
class _Records:
    """Keeps the records of the Twilio calls: the per-stage breakdown the protocol lacks."""

    stages: list[TurnLatencyEvent] = field(default_factory=list)

    async def save(self, record: CallRecord) -> None:
        """Keep each reply turn's stages."""
        for turn in record.turns[1:]:
            fields = {k: getattr(turn, k) for k in _STAGE_KEYS}
            self.stages.append(TurnLatencyEvent(turn.number, **fields))

    async def close(self) -> None:
        """Nothing to close (the server closes its store when it stops)."""


_STAGE_KEYS = ("endpointing_ms", "asr_final_ms", "llm_ttft_ms", "tts_ttfb_ms", "voice_to_voice_ms")


def _last_loud_mulaw(mulaw: bytes) -> float:
    loud = np.nonzero(np.abs(mulaw_decode(mulaw)) * 32768 > SILENT)[0]
    return (loud[-1] + 1) / 8000 if loud.size else 0.0


def _loud_mulaw(frame: bytes) -> bool:
    return bool(np.abs(mulaw_decode(frame)).max(initial=0) * 32768 > SILENT)


async def measured_twilio_call(url: str, utterances: list[bytes], turns: int) -> CallResult:
    """One call of `turns` turns over Twilio's protocol (μ-law); client-side measurements."""
    spoken = [utterances[turn % len(utterances)] for turn in range(turns)]
    peer = TwilioPeer(url, PUBLIC_URL, os.environ[TOKEN_ENV])
    try:
        call = await peer.call(AGENT)
        call.open_line()
        await call.quiet(timeout_s=REPLY_TIMEOUT_S)  # the greeting
        replies_from = []
        for mulaw in spoken:
            replies_from.append(len(call.heard.audio_at))
            await call.say(mulaw)
            await call.quiet(timeout_s=REPLY_TIMEOUT_S)
        await call.stop()
        await call.wait_closed(10)
    finally:
        await peer.aclose()
    result = CallResult()
    arrivals, audio = call.heard.audio_at, bytes(call.heard.audio)
    loud = [t for i, t in enumerate(arrivals) if _loud_mulaw(audio[i * 160 : (i + 1) * 160])]
    for index, ((started, ended), mulaw) in enumerate(zip(call.said, spoken, strict=True)):
        until = call.said[index + 1][0] if index + 1 < len(call.said) else float("inf")
        heard = next((t for t in loud if ended < t < until), None)
        if heard is not None:
            result.voice_to_voice_s.append(heard - (started + _last_loud_mulaw(mulaw)))
    last = 0.0
    for index, arrived in enumerate(arrivals):
        if index >= replies_from[0] and 0.1 < arrived - last < 1.0:
            result.underruns += 1
        last = arrived
    return result


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = round(statistics.median(ordered), 3)
    return {"p50_s": median, "p95_s": round(p95, 3), "n": len(values)}


def _stage_medians(stages: list[TurnLatencyEvent]) -> dict[str, int]:
    return {k: int(statistics.median(getattr(s, k) for s in stages)) for k in _STAGE_KEYS if stages}


def bench_agent(transport: str = "grpc") -> VoiceAgent:
    """The receptionist the calls reach: one short sentence per answer, no end-call tool."""
    channels: dict[str, Any] = {}
    if transport == "twilio":
        ref = {"name": "twilio", "key": "bench-token"}
        channels = {"twilio": {"enabled": True, "authTokenSecretRef": ref}}
    manifest = parse_manifest(
        {
            "apiVersion": "switchboard.dev/v1alpha1",
            "kind": "VoiceAgent",
            "metadata": {"name": "receptionist", "namespace": "bench"},
            "spec": {
                "prompt": {
                    "system": "You are the receptionist of Acme Dental. Answer in one short "
                    "sentence.",
                    "greeting": "Hello, Acme Dental, how can I help?",
                },
                # 0.3 as in every earlier run of this benchmark (the agent default is 0.6):
                # sampling changes reply lengths, and so TTS first-audio times.
                "pipeline": {"llm": {"maxTokens": 40, "temperature": 0.3}},
                "callPolicy": {"endCallTool": False},
                **({"channels": channels} if channels else {}),
            },
        },
        "bench",
    )
    if not isinstance(manifest, VoiceAgent):
        raise TypeError("the bench agent must be a VoiceAgent")
    return manifest


async def run(
    base_url: str,
    agent: VoiceAgent,
    turns: int,
    sweep: list[int],
    sweep_turns: int,
    transport: str = "grpc",
) -> dict[str, Any]:
    """The gateway as a pod starts it (warmed up), the single long call, then the sweep."""
    config = GatewayConfig(
        model_plane_url=base_url,
        agents=[agent],
        host="127.0.0.1",
        grpc_port=0,
        http_port=0,
        max_concurrent_calls=64,
        store=None,
        telephony={"port": 0, "public_url": PUBLIC_URL},  # type: ignore[arg-type]
    )
    server = await GatewayServer.start(config)
    try:
        await server.warm_up()
        utterances = _speech(QUESTIONS)
        call: Callable[[str, list[bytes], int], Awaitable[CallResult]]
        if transport == "twilio":
            if server.phone_port is None:
                raise RuntimeError("the gateway opened no phone port for the Twilio agent")
            target = f"http://127.0.0.1:{server.phone_port.port}"
            utterances = [pcm16_to_mulaw(pcm) for pcm in utterances]
            call = measured_twilio_call
            records = _Records()
            server.gateway.store = records  # type: ignore[assignment]
        else:
            target = f"127.0.0.1:{server.grpc_port}"
            call = measured_call
        started = time.monotonic()
        single = await call(target, utterances, turns)
        if transport == "twilio":
            single.stages = records.stages
        results: dict[str, Any] = {
            "single_call": {
                "turns": turns,
                **_percentiles(single.voice_to_voice_s),
                "stage_medians": _stage_medians(single.stages),
                "underruns": single.underruns,
                "seconds": round(time.monotonic() - started, 1),
            },
            "sweep": [],
        }
        for calls in sweep:
            outcomes = await asyncio.gather(
                *(call(target, utterances, sweep_turns) for _ in range(calls))
            )
            values = [v for o in outcomes for v in o.voice_to_voice_s]
            results["sweep"].append(
                {
                    "calls": calls,
                    **_percentiles(values),
                    "underruns": sum(o.underruns for o in outcomes),
                    "dropped_frames": server.gateway.metrics.value(
                        "switchboard_dropped_frames_total", agent=AGENT
                    ),
                }
            )
        return results
    finally:
        await server.stop()


def main() -> None:
    """Start the model plane, run the calls, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--sweep", default="1,2,4,6")
    parser.add_argument("--sweep-turns", type=int, default=4)
    parser.add_argument("--transport", choices=("grpc", "twilio"), default="grpc")
    args = parser.parse_args()
    os.environ.setdefault(TOKEN_ENV, secrets.token_hex(16))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    agent = bench_agent(args.transport)
    ray.init(num_cpus=6, include_dashboard=False, log_to_driver=False)
    try:
        base_url = local.deploy(model_plane([agent_request(agent)]), port=port)
        sweep = [int(n) for n in args.sweep.split(",") if n]
        results = asyncio.run(
            run(base_url, agent, args.turns, sweep, args.sweep_turns, args.transport)
        )
    finally:
        local.shutdown()
    machine = f"{platform.machine()}, local Ray"
    print(json.dumps({"machine": machine, "transport": args.transport, **results}, indent=2))


if __name__ == "__main__":
    main()
