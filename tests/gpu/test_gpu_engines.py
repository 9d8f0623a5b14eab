"""GPU engines (tier T5): run with `pytest -m gpu` on a machine with an NVIDIA GPU.

CI never runs these. Weights for vLLM and Kokoro must already be on the machine (GPU nodes
often have no internet): `SWITCHBOARD_GPU_VLLM_MODEL` names a local model directory, and
Kokoro reads the Hugging Face cache. Each test prints what it measured.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from switchboard_api.pipeline import AsrSpec, LlmSpec, TtsSpec
from switchboard_serve.asr.faster_whisper import FasterWhisperEngine
from switchboard_serve.evaluation import word_error_rate
from switchboard_serve.llm.base import ToolDefinition
from switchboard_serve.packaged import piper_voice_path, whisper_model_dir
from switchboard_serve.tts.piper import PiperEngine
from switchboard_wire.audio import resample
from switchboard_wire.chat import ChatMessage, ReplyText, ToolRequest
from tests.models.serve.test_round_trip import SENTENCES

pytestmark = pytest.mark.gpu


def _cuda_devices() -> int:
    import ctranslate2

    return int(ctranslate2.get_cuda_device_count())


@pytest.fixture(scope="module", autouse=True)
def _needs_a_gpu() -> None:
    if _cuda_devices() == 0:
        pytest.skip("no CUDA device visible to CTranslate2 on this machine")


def test_whisper_on_cuda_in_float16_round_trips_piper_speech() -> None:
    tts = PiperEngine(TtsSpec(), piper_voice_path())
    asr = FasterWhisperEngine(AsrSpec(device="cuda"), whisper_model_dir())
    assert asr.device == "cuda"
    pairs, times = [], []
    for sentence in SENTENCES:
        audio = resample(np.concatenate(list(tts.synthesize(sentence))), tts.sample_rate, 16_000)
        started = time.perf_counter()
        pairs.append((sentence, asr.transcribe(audio).text))
        times.append(time.perf_counter() - started)
    print(f"whisper-base cuda float16: median {np.median(times[1:]) * 1000:.1f} ms/utterance")
    assert word_error_rate(pairs) <= 0.15, pairs


def test_vllm_streams_calls_tools_and_reuses_the_prefix_cache() -> None:
    model = os.environ.get("SWITCHBOARD_GPU_VLLM_MODEL")
    if not model:
        pytest.skip("SWITCHBOARD_GPU_VLLM_MODEL (a local model directory) is not set")
    pytest.importorskip("vllm", reason="the gpu extra (vllm) is not installed")
    from switchboard_serve.llm.vllm import VllmEngine

    engine = VllmEngine(LlmSpec(provider="vllm", model=model, gpus=1, context_tokens=4096))
    try:
        messages: list[ChatMessage] = [
            {"role": "system", "content": "You are a concise receptionist. " * 20},
            {"role": "user", "content": "Say hello."},
        ]
        ttft = []
        for _ in range(2):
            started, first = time.perf_counter(), 0.0
            deltas = 0
            for event in engine.stream_chat(messages, max_tokens=32):
                if isinstance(event, ReplyText):
                    first = first or time.perf_counter() - started
                    deltas += 1
            assert deltas >= 2
            ttft.append(first)
        print(f"vLLM TTFT first {ttft[0] * 1000:.0f} ms, repeated prefix {ttft[1] * 1000:.0f} ms")
        weather = ToolDefinition(
            "get_weather",
            "Get the current weather for a city",
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        )
        question: list[ChatMessage] = [{"role": "user", "content": "What's the weather in Paris?"}]
        events = list(engine.stream_chat(question, [weather], temperature=0.0))
        call = next(e for e in events if isinstance(e, ToolRequest))
        assert call.name == "get_weather"
        assert "paris" in json.loads(call.arguments)["city"].lower()
    finally:
        engine.close()


def test_kokoro_streams_sentences_at_24khz() -> None:
    pytest.importorskip("kokoro", reason="the gpu extra (kokoro) is not installed")
    from switchboard_serve.tts.kokoro import KokoroEngine

    engine = KokoroEngine(TtsSpec(engine="kokoro", voice="af_heart"), device="cuda")
    started = time.perf_counter()
    chunks, first = [], 0.0
    for chunk in engine.synthesize(" ".join(SENTENCES[:3])):
        first = first or time.perf_counter() - started
        chunks.append(chunk)
    seconds = sum(c.size for c in chunks) / engine.sample_rate
    print(f"Kokoro first audio {first * 1000:.0f} ms, {seconds:.1f} s of audio")
    assert len(chunks) >= 2
    assert seconds > 4
