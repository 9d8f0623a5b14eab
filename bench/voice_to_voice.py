"""Voice-to-voice latency of whole calls over gRPC, on this machine.

    .venv/bin/python bench/voice_to_voice.py [--turns 20] [--sweep 1,2,4,6] [--sweep-turns 4]

Starts the packaged model plane on a local Ray Serve and a gateway (gRPC) in this process, then
drives scripted callers: Piper utterances sent at real time in 20 ms frames. Voice-to-voice is
measured at the client: the end of the caller's speech (its last non-silent sample leaving)
to the first non-silent agent audio frame arriving. Also reported: the gateway's own per-stage
breakdown (TurnLatency events) and, per concurrency level, p50/p95 and audio underruns (gaps
over 100 ms between agent frames inside a reply). Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ray

from switchboard_api.manifests import parse_manifest
from switchboard_api.pipeline import ResolvedPipeline, TtsSpec
from switchboard_api.resources import VoiceAgent
from switchboard_api.serving import AgentModelRequest, model_plane
from switchboard_api.voiceagent import ModelsScalingSpec
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.backends.model_plane_http import ModelPlaneHttp
from switchboard_gateway.client import connect
from switchboard_gateway.events import AgentAudioEvent, CallEndedEvent, TurnLatencyEvent
from switchboard_gateway.gateway import AgentEntry, Gateway
from switchboard_gateway.transports.grpc.server import start_grpc_server
from switchboard_serve import local
from switchboard_serve.audio import resample
from switchboard_serve.packaged import piper_voice_path
from switchboard_serve.tts.piper import PiperEngine

QUESTIONS = [
    "What time do you open on Saturday?",
    "Is there parking near the clinic?",
    "Can I book an appointment for Tuesday?",
    "Do you take new patients?",
    "How much is a cleaning?",
]
FRAME = 320  # 20 ms at 16 kHz
SILENT = 300  # |sample| below this (PCM16) counts as silence


@dataclass
class CallResult:
    """What one scripted call measured."""

    voice_to_voice_s: list[float] = field(default_factory=list)
    stages: list[TurnLatencyEvent] = field(default_factory=list)
    underruns: int = 0


def _pcm(audio: np.ndarray) -> bytes:
    return np.clip(np.round(audio * 32768), -32768, 32767).astype("<i2").tobytes()


def _speech(texts: list[str]) -> list[bytes]:
    tts = PiperEngine(TtsSpec(), piper_voice_path())
    return [
        _pcm(resample(np.concatenate(list(tts.synthesize(t))), tts.sample_rate, 16_000))
        for t in texts
    ]


def _last_loud(pcm: bytes) -> float:
    samples = np.abs(np.frombuffer(pcm, "<i2"))
    loud = np.nonzero(samples > SILENT)[0]
    return (loud[-1] + 1) / 16_000 if loud.size else 0.0


async def scripted_call(target: str, utterances: list[bytes], turns: int) -> CallResult:
    """One call of `turns` turns; returns the client-side measurements."""
    result = CallResult()
    speech_end: float | None = None
    last_frame = 0.0
    replies_done = 0
    async with connect(target, "bench/receptionist") as call:

        async def read() -> None:
            nonlocal speech_end, last_frame, replies_done
            async for event in call.events():
                now = time.monotonic()
                if isinstance(event, AgentAudioEvent):
                    loud = np.abs(np.frombuffer(event.data, "<i2")).max(initial=0) > SILENT
                    if speech_end is not None and loud:
                        result.voice_to_voice_s.append(now - speech_end)
                        speech_end = None
                    if event.turn > 0 and 0.1 < now - last_frame < 1.0:
                        result.underruns += 1
                    last_frame = now
                elif isinstance(event, TurnLatencyEvent):
                    result.stages.append(event)
                    replies_done += 1
                elif isinstance(event, CallEndedEvent):
                    return

        reader = asyncio.create_task(read())

        async def send(pcm: bytes) -> None:
            started = time.monotonic()
            for i, start in enumerate(range(0, len(pcm), FRAME * 2)):
                await call.send_audio(pcm[start : start + FRAME * 2])
                delay = started + (i + 1) * 0.02 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)

        async def quiet_until(done: int) -> None:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if replies_done >= done and time.monotonic() - last_frame > 0.7:
                    return
                await send(b"\x00\x00" * FRAME * 5)

        await quiet_until(0)
        for turn in range(turns):
            pcm = utterances[turn % len(utterances)]
            sent_at = time.monotonic()
            await send(pcm)
            speech_end = sent_at + _last_loud(pcm)
            await quiet_until(turn + 1)
        await call.hangup("bench")
        await asyncio.wait_for(reader, 30)
    return result


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = round(statistics.median(ordered), 3)
    return {"p50_s": median, "p95_s": round(p95, 3), "n": len(values)}


def _stage_medians(stages: list[TurnLatencyEvent]) -> dict[str, int]:
    keys = ("endpointing_ms", "asr_final_ms", "llm_ttft_ms", "tts_ttfb_ms", "voice_to_voice_ms")
    return {k: int(statistics.median(getattr(s, k) for s in stages)) for k in keys if stages}


async def run(base_url: str, turns: int, sweep: list[int], sweep_turns: int) -> dict[str, Any]:
    """The single long call, then the concurrency sweep."""
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
                "pipeline": {"llm": {"maxTokens": 40}},
                "callPolicy": {"endCallTool": False},
            },
        },
        "bench",
    )
    if not isinstance(manifest, VoiceAgent):
        raise TypeError("the bench agent must be a VoiceAgent")
    config = AgentConfig.from_resource(manifest)
    backend = ModelPlaneHttp(base_url, max_tokens=40, temperature=0.3, timeout_s=60)
    gateway = Gateway({config.key: AgentEntry(config, backend)}, max_calls=64)
    server, port = await start_grpc_server(gateway)
    target = f"127.0.0.1:{port}"
    utterances = _speech(QUESTIONS)
    try:
        single = await scripted_call(target, utterances, turns)
        results: dict[str, Any] = {
            "single_call": {
                "turns": turns,
                **_percentiles(single.voice_to_voice_s),
                "stage_medians": _stage_medians(single.stages),
                "underruns": single.underruns,
            },
            "sweep": [],
        }
        for calls in sweep:
            outcomes = await asyncio.gather(
                *(scripted_call(target, utterances, sweep_turns) for _ in range(calls))
            )
            values = [v for o in outcomes for v in o.voice_to_voice_s]
            results["sweep"].append(
                {
                    "calls": calls,
                    **_percentiles(values),
                    "underruns": sum(o.underruns for o in outcomes),
                    "dropped_frames": gateway.metrics.value(
                        "switchboard_dropped_frames_total", agent=config.key
                    ),
                }
            )
        return results
    finally:
        await server.stop(grace=1)
        await backend.aclose()


def main() -> None:
    """Start the model plane, run the calls, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--sweep", default="1,2,4,6")
    parser.add_argument("--sweep-turns", type=int, default=4)
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ray.init(num_cpus=6, include_dashboard=False, log_to_driver=False)
    try:
        agent = AgentModelRequest("bench/receptionist", ResolvedPipeline(), ModelsScalingSpec())
        base_url = local.deploy(model_plane([agent]), port=port)
        sweep = [int(n) for n in args.sweep.split(",") if n]
        results = asyncio.run(run(base_url, args.turns, sweep, args.sweep_turns))
    finally:
        local.shutdown()
    print(json.dumps({"machine": f"{platform.machine()}, local Ray", **results}, indent=2))


if __name__ == "__main__":
    main()
