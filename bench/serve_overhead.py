"""What Ray Serve and HTTP add on top of the engines, on this machine.

    .venv/bin/python bench/serve_overhead.py [--repeats 30]

Starts the packaged model plane on a local Ray (one replica per model) and times the same short
requests three ways: the engine in-process, a Serve handle call from the driver, and the HTTP
ingress. Prints medians as JSON; results go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import time
from collections.abc import Callable

import httpx
import ray
from ray import serve

from switchboard_api.knowledgebase import EmbeddingSpec
from switchboard_api.pipeline import ResolvedPipeline
from switchboard_api.resources import KnowledgeBase
from switchboard_api.serving import AgentModelRequest, model_plane
from switchboard_api.voiceagent import ModelsScalingSpec
from switchboard_serve import local
from switchboard_serve.embed.onnx import OnnxEmbeddingEngine
from switchboard_serve.packaged import embedding_model_files

QUERY = "What time do you open on Saturday?"
SENTENCE = "Thanks for calling, how can I help?"


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _first_audio_ms(http: httpx.Client, repeats: int) -> float:
    def first_chunk() -> float:
        started = time.perf_counter()
        with http.stream("POST", "/v1/audio/speech", json={"input": SENTENCE}) as response:
            for _ in response.iter_raw():
                return time.perf_counter() - started
        raise RuntimeError("no audio")

    first_chunk()
    return round(statistics.median(first_chunk() for _ in range(repeats)) * 1000, 2)


def main() -> None:
    """Start the model plane, time each path, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    engine = OnnxEmbeddingEngine(EmbeddingSpec(), *embedding_model_files())
    results: dict[str, object] = {"machine": f"{platform.machine()}, local Ray"}
    results["embed_in_process_ms"] = _median_ms(lambda: engine.embed([QUERY]), args.repeats)

    port = _free_port()
    local.normal_priority()  # replicas at nice 0, as `switchboard up` runs them
    ray.init(num_cpus=6, include_dashboard=False, log_to_driver=False)
    try:
        kb = KnowledgeBase.model_validate(
            {
                "metadata": {"name": "kb", "namespace": "bench"},
                "spec": {"sources": [{"name": "s", "inline": {"text": "x"}}]},
            }
        )
        agent = AgentModelRequest("bench/agent", ResolvedPipeline(), ModelsScalingSpec())
        plane = model_plane([agent], [kb])
        started = time.perf_counter()
        local.deploy(plane, port=port)
        results["serve_app_start_s"] = round(time.perf_counter() - started, 1)
        embed = serve.get_deployment_handle(plane.embed[0].name, app_name="models")
        results["embed_serve_handle_ms"] = _median_ms(
            lambda: embed.embed.remote([QUERY]).result(timeout_s=30), args.repeats
        )
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            results["embed_http_ms"] = _median_ms(
                lambda: http.post("/v1/embeddings", json={"input": QUERY}).raise_for_status(),
                args.repeats,
            )
            results["healthz_http_ms"] = _median_ms(
                lambda: http.get("/healthz").raise_for_status(), args.repeats
            )
            results["tts_first_audio_http_ms"] = _first_audio_ms(http, args.repeats)
    finally:
        local.shutdown()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
