"""Voice-to-voice latency of whole calls over gRPC, on this machine.

    .venv/bin/python bench/voice_to_voice.py [--turns 20] [--sweep 1,2,4,6] [--sweep-turns 4]

Starts the packaged model plane on a local Ray Serve, then the gateway in this process as a pod
and `switchboard up` start it (`GatewayServer.start` + `warm_up`: models warmed, greeting
cached), then drives scripted callers over gRPC (`switchboard_gateway.scripted_caller`, the one
behind `switchboard call`): Piper utterances sent at real time in 20 ms frames, each turn after
the previous reply has played. Voice-to-voice is
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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ray

from switchboard_api.gateway import GatewayConfig
from switchboard_api.manifests import parse_manifest
from switchboard_api.pipeline import TtsSpec
from switchboard_api.resources import VoiceAgent
from switchboard_api.serving import agent_request, model_plane
from switchboard_gateway.events import AgentAudioEvent, TurnLatencyEvent
from switchboard_gateway.scripted_caller import ScriptedCaller, Turn, scripted_call
from switchboard_gateway.server import GatewayServer
from switchboard_serve import local
from switchboard_serve.packaged import piper_voice_path
from switchboard_serve.tts.piper import PiperEngine
from switchboard_wire.audio import float_to_pcm16, resample

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


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = round(statistics.median(ordered), 3)
    return {"p50_s": median, "p95_s": round(p95, 3), "n": len(values)}


def _stage_medians(stages: list[TurnLatencyEvent]) -> dict[str, int]:
    keys = ("endpointing_ms", "asr_final_ms", "llm_ttft_ms", "tts_ttfb_ms", "voice_to_voice_ms")
    return {k: int(statistics.median(getattr(s, k) for s in stages)) for k in keys if stages}


def bench_agent() -> VoiceAgent:
    """The receptionist the calls reach: one short sentence per answer, no end-call tool."""
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
            },
        },
        "bench",
    )
    if not isinstance(manifest, VoiceAgent):
        raise TypeError("the bench agent must be a VoiceAgent")
    return manifest


async def run(
    base_url: str, agent: VoiceAgent, turns: int, sweep: list[int], sweep_turns: int
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
    )
    server = await GatewayServer.start(config)
    try:
        await server.warm_up()
        target = f"127.0.0.1:{server.grpc_port}"
        utterances = _speech(QUESTIONS)
        single = await measured_call(target, utterances, turns)
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
                *(measured_call(target, utterances, sweep_turns) for _ in range(calls))
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
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    agent = bench_agent()
    ray.init(num_cpus=6, include_dashboard=False, log_to_driver=False)
    try:
        base_url = local.deploy(model_plane([agent_request(agent)]), port=port)
        sweep = [int(n) for n in args.sweep.split(",") if n]
        results = asyncio.run(run(base_url, agent, args.turns, sweep, args.sweep_turns))
    finally:
        local.shutdown()
    print(json.dumps({"machine": f"{platform.machine()}, local Ray", **results}, indent=2))


if __name__ == "__main__":
    main()
