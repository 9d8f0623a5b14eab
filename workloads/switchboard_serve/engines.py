"""Engine construction from specs: the only place that knows which engine serves which choice."""

from __future__ import annotations

import os
from typing import assert_never

from switchboard_api.knowledgebase import EmbeddingSpec
from switchboard_api.pipeline import AsrSpec, LlmSpec, TtsSpec
from switchboard_serve.asr.base import AsrEngine
from switchboard_serve.embed.base import EmbedEngine
from switchboard_serve.llm.base import LlmEngine
from switchboard_serve.packaged import (
    embedding_model_files,
    gguf_path,
    piper_voice_path,
    whisper_model_dir,
)
from switchboard_serve.tts.base import TtsEngine


def _threads() -> int:
    return int(os.environ.get("SWITCHBOARD_ENGINE_THREADS", "0")) or (os.cpu_count() or 1)


def make_asr(spec: AsrSpec) -> AsrEngine:
    """The ASR engine for a spec."""
    if spec.engine == "faster-whisper":
        from switchboard_serve.asr.faster_whisper import FasterWhisperEngine

        return FasterWhisperEngine(spec, whisper_model_dir(spec.model), cpu_threads=_threads())
    if spec.engine == "deepgram":
        from switchboard_serve.asr.deepgram import DeepgramAsrEngine

        return DeepgramAsrEngine(spec)
    assert_never(spec.engine)


def make_llm(spec: LlmSpec) -> LlmEngine:
    """The LLM engine for a spec."""
    if spec.provider == "llamacpp":
        from switchboard_serve.llm.llamacpp import LlamaCppEngine

        return LlamaCppEngine(spec, gguf_path(spec.model), threads=_threads())
    if spec.provider == "vllm":
        from switchboard_serve.llm.vllm import VllmEngine

        return VllmEngine(spec)
    if spec.provider == "openai-compatible":
        from switchboard_serve.llm.openai_compatible import OpenAICompatibleEngine

        return OpenAICompatibleEngine(spec)
    assert_never(spec.provider)


def make_tts(spec: TtsSpec) -> TtsEngine:
    """The TTS engine for a spec."""
    if spec.engine == "piper":
        from switchboard_serve.tts.piper import PiperEngine

        return PiperEngine(spec, piper_voice_path(spec.voice))
    if spec.engine == "kokoro":
        from switchboard_serve.tts.kokoro import KokoroEngine

        return KokoroEngine(spec)
    if spec.engine == "deepgram-aura":
        from switchboard_serve.tts.deepgram_aura import DeepgramAuraEngine

        return DeepgramAuraEngine(spec)
    assert_never(spec.engine)


def make_embedder(spec: EmbeddingSpec) -> EmbedEngine:
    """The embedding engine for a spec (onnxruntime; packaged models only for now)."""
    from switchboard_serve.embed.onnx import OnnxEmbeddingEngine

    model_file, tokenizer_file = embedding_model_files(spec.model)
    return OnnxEmbeddingEngine(spec, model_file, tokenizer_file, threads=_threads())
