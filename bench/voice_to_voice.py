"""Voice-to-voice latency of whole calls over gRPC or Twilio Media Streams, measured honestly.

    .venv/bin/python bench/voice_to_voice.py [--turns 20] [--voices piper,espeak]
        [--sweep 1,2,4,6] [--sweep-turns 4] [--transport grpc|twilio]
        [--turn-strategy silence|smart-turn] [--endpointing-ms 500]
        [--encoder-window fit|full] [--out result.json]

Starts the packaged model plane on a local Ray Serve, then the gateway in this process as a pod
and `switchboard up` start it (`GatewayServer.start` + `warm_up`: models warmed, fixed phrases
cached), then drives callers that speak at real time in 20 ms frames, each turn after the
previous reply has played.

What makes the figures honest:

- Distinct utterances: every turn of a call says a different question from
  `bench/speech_sets.py` (`--turns` is at most its 24), so no reply can be a replay of an earlier
  turn's. The sweep gives each call its own questions too, while the set lasts.
- Two voice families, alternating per turn (`speech_sets.voices_for`): Piper, the voice the
  tests speak with, and espeak-ng variants, a voice nothing in the project was tuned on.
- What the gateway heard: the caller transcripts of each turn (the final `TranscriptEvent`s; over
  Twilio, what the in-process gateway sent) against what was said, as a word error rate per
  voice family, beside latency. A faster answer to a misheard question is not faster.
- The phrase cache: each turn's `TurnLatencyEvent.phrase_cache_hit` says whether the reply's
  first audio was replayed. Such turns are left out of p50/p95 unless the reply began with a
  fixed phrase (greeting, apology, one of the agent's `prompt.cachedPhrases`); both counts are
  reported.

Voice-to-voice is measured at the client: the end of the caller's speech (its last non-silent
sample leaving) to the first non-silent agent audio frame arriving. Also reported: the gateway's
per-stage medians, audio underruns (gaps over 100 ms between agent frames inside a reply),
replies missed, refused calls per sweep level, and the machine (CPU model, cores, load average
before and after: on a busy machine figures are indicative only). Prints JSON, and writes it to
`--out`.

`--transport twilio` calls over Twilio's protocol instead (μ-law 8 kHz): the Twilio stand-in of
the tests rings the agent through its signed webhook and streams a continuous line (silence
between utterances, as a phone does), playing agent audio and echoing marks as Twilio does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.speech_sets import QUESTIONS, synthesise, voices_for
from bench.v2v_calls import PUBLIC_URL, CallResult, GatewayTap, grpc_call, twilio_call
from bench.v2v_report import Utterance, machine, percentiles, summary

from switchboard_api.gateway import GatewayConfig
from switchboard_api.manifests import parse_manifest
from switchboard_api.resources import VoiceAgent
from switchboard_api.serving import agent_request, model_plane
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.backends.warm_up import fixed_lines
from switchboard_gateway.capacity import calls_for_cores
from switchboard_gateway.conversation.responder import APOLOGY
from switchboard_gateway.server import GatewayServer
from switchboard_gateway.tools.dispatch import TOOL_APOLOGY
from switchboard_serve import local

AGENT = "bench/receptionist"
TOKEN_ENV = "SWITCHBOARD_SECRET_TWILIO_BENCH_TOKEN"  # noqa: S105 (a variable name)


def bench_agent(transport: str = "grpc", pipeline: dict[str, Any] | None = None) -> VoiceAgent:
    """The receptionist the calls reach: one short sentence per answer, no end-call tool.

    `pipeline`: `spec.pipeline` fields over the bench's own (turn strategy, endpointing, ASR
    encoder window); the API refuses what it does not support.
    """
    channels: dict[str, Any] = {}
    if transport == "twilio":
        ref = {"name": "twilio", "key": "bench-token"}
        channels = {"twilio": {"enabled": True, "authTokenSecretRef": ref}}
    # 0.3 as in every earlier run of this benchmark (the agent default is 0.6): sampling
    # changes reply lengths, and so TTS first-audio times.
    spec_pipeline: dict[str, Any] = {"llm": {"maxTokens": 40, "temperature": 0.3}}
    for stage, fields in (pipeline or {}).items():
        spec_pipeline[stage] = {**spec_pipeline.get(stage, {}), **fields}
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
                "pipeline": spec_pipeline,
                "callPolicy": {"endCallTool": False},
                **({"channels": channels} if channels else {}),
            },
        },
        "bench",
    )
    if not isinstance(manifest, VoiceAgent):
        raise TypeError("the bench agent must be a VoiceAgent")
    return manifest


def fixed_phrases(agent: VoiceAgent) -> frozenset[str]:
    """What the gateway may replay from its phrase cache for this agent: fixed lines only."""
    config = AgentConfig.from_resource(agent)
    return frozenset({*fixed_lines(config), APOLOGY, TOOL_APOLOGY})


class Speech:
    """The benchmark's utterances, each text in each voice synthesised once."""

    def __init__(self, families: list[str]) -> None:
        self.families = families
        self._audio: dict[tuple[str, str], bytes] = {}

    def utterances(self, first: int, count: int) -> list[Utterance]:
        """`count` questions from question `first` on (wrapping), voices alternating."""
        plan = voices_for(first + count, self.families)[first:]
        texts = [QUESTIONS[(first + i) % len(QUESTIONS)] for i in range(count)]
        return [Utterance(t, v, self._pcm(t, v)) for t, v in zip(texts, plan, strict=True)]

    def _pcm(self, text: str, voice: str) -> bytes:
        if (text, voice) not in self._audio:
            self._audio[(text, voice)] = synthesise(text, voice)
        return self._audio[(text, voice)]


async def run(
    base_url: str, agent: VoiceAgent, args: argparse.Namespace, speech: Speech
) -> dict[str, Any]:
    """The gateway as a pod starts it (warmed up), the single long call, then the sweep."""
    config = GatewayConfig(
        model_plane_url=base_url,
        agents=[agent],
        host="127.0.0.1",
        grpc_port=0,
        http_port=0,
        max_concurrent_calls=64,
        # As `switchboard up` sets it: calls past the capacity are refused, not all slowed.
        capacity_calls=args.capacity or calls_for_cores(os.cpu_count() or 1),
        store=None,
        telephony={"port": 0, "public_url": PUBLIC_URL},  # type: ignore[arg-type]
    )
    fixed = fixed_phrases(agent)
    server = await GatewayServer.start(config)
    try:
        await server.warm_up()
        tap: GatewayTap | None = None
        if args.transport == "twilio":
            if server.phone_port is None:
                raise RuntimeError("the gateway opened no phone port for the Twilio agent")
            url, token = f"http://127.0.0.1:{server.phone_port.port}", os.environ[TOKEN_ENV]
            tap = GatewayTap(server.gateway.metrics)
        target = f"127.0.0.1:{server.grpc_port}"

        async def call(utterances: list[Utterance], tapped: bool = False) -> CallResult:
            if args.transport == "twilio":
                return await twilio_call(
                    url, AGENT, utterances, fixed, token, tap if tapped else None
                )
            return await grpc_call(target, AGENT, utterances, fixed)

        started = time.monotonic()
        single = await call(speech.utterances(0, args.turns), tapped=True)
        if single.refused:
            raise RuntimeError(f"the single call was refused: {single.refused}")
        results: dict[str, Any] = {
            "single": {
                **summary(single.turns, single.underruns),
                "seconds": round(time.monotonic() - started, 1),
            },
            "sweep": [],
        }
        for calls in args.sweep:
            n = args.sweep_turns
            outcomes = await asyncio.gather(
                *(call(speech.utterances(c * n, n)) for c in range(calls))
            )
            admitted = [o for o in outcomes if not o.refused]
            values = [
                t.voice_to_voice_s
                for o in admitted
                for t in o.turns
                if t.counted and t.voice_to_voice_s is not None
            ]
            results["sweep"].append(
                {
                    "calls": calls,
                    **percentiles(values),
                    "underruns": sum(o.underruns for o in admitted),
                    "refused": len(outcomes) - len(admitted),
                    "refusals": sorted({o.refused for o in outcomes if o.refused}),
                    "replies_missed": sum(
                        t.voice_to_voice_s is None for o in admitted for t in o.turns
                    ),
                    "distinct_utterances": calls * n <= len(QUESTIONS),
                    "dropped_frames": server.gateway.metrics.value(
                        "switchboard_dropped_frames_total", agent=AGENT
                    ),
                }
            )
        return results
    finally:
        await server.stop()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--voices", default="piper,espeak", help="voice families, alternating")
    parser.add_argument("--sweep", default="1,2,4,6", help='concurrent calls per level ("": none)')
    parser.add_argument("--sweep-turns", type=int, default=4)
    parser.add_argument("--transport", choices=("grpc", "twilio"), default="grpc")
    parser.add_argument("--turn-strategy", choices=("silence", "smart-turn"))
    parser.add_argument("--endpointing-ms", type=int, help="spec.pipeline.turn silence")
    parser.add_argument("--encoder-window", choices=("fit", "full"))
    parser.add_argument(
        "--capacity", type=int, help="calls admitted at once (default: as switchboard up sets it)"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    args.voices = [v.strip() for v in args.voices.split(",") if v.strip()]
    if not args.voices or not set(args.voices) <= {"piper", "espeak"}:
        parser.error("--voices takes piper and/or espeak")
    if not 1 <= args.turns <= len(QUESTIONS):
        parser.error(f"--turns must be 1..{len(QUESTIONS)}: utterances are never repeated")
    if not 1 <= args.sweep_turns <= len(QUESTIONS):
        parser.error(f"--sweep-turns must be 1..{len(QUESTIONS)}")
    args.sweep = [int(n) for n in args.sweep.split(",") if n.strip()]
    return args


def _pipeline(args: argparse.Namespace) -> dict[str, Any]:
    turn: dict[str, Any] = {}
    if args.turn_strategy is not None:
        turn["strategy"] = args.turn_strategy
    if args.endpointing_ms is not None:
        turn["endpointingSilenceMs"] = args.endpointing_ms
    asr = {"encoderWindow": args.encoder_window} if args.encoder_window is not None else {}
    return {k: v for k, v in (("turn", turn), ("asr", asr)) if v}


def main() -> None:
    """Start the model plane, run the calls, print (and write) JSON."""
    args = _arguments()
    load_before = os.getloadavg()
    os.environ.setdefault(TOKEN_ENV, secrets.token_hex(16))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    try:
        agent = bench_agent(args.transport, _pipeline(args))
    except ValueError as refused:  # e.g. a turn strategy the API does not take yet
        sys.exit(f"the bench agent is refused: {refused}")
    pipeline = agent_request(agent).pipeline
    speech = Speech(args.voices)
    local.normal_priority()  # replicas at nice 0, as `switchboard up` runs them
    ray.init(num_cpus=6, include_dashboard=False, log_to_driver=False)
    try:
        base_url = local.deploy(model_plane([agent_request(agent)]), port=port)
        results = asyncio.run(run(base_url, agent, args, speech))
    finally:
        local.shutdown()
        ray.shutdown()
    report = {
        "machine": {**machine(load_before), "runtime": "local Ray"},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "transport": args.transport,
        "voices": args.voices,
        "turn_strategy": pipeline.turn.strategy,
        "endpointing_ms": pipeline.turn.endpointing_silence_ms,
        "encoder_window": pipeline.asr.encoder_window,
        **results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
