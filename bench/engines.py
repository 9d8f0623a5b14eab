"""Per-stage latency of the packaged CPU engines, in-process (no Ray Serve, no HTTP).

    .venv/bin/python bench/engines.py [--repeats 5] [--threads 2]

Prints one JSON object: medians of ASR seconds per audio second, LLM time to first token for a
cold and a warm (same conversation, next turn) prompt and tokens/s, TTS time to first audio and
real-time factor, partial transcription of a growing buffer against re-transcribing it, and
embeddings per second. Results go to docs/benchmarks.md by hand, with the machine and date.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

from switchboard_api.knowledgebase import EmbeddingSpec
from switchboard_api.pipeline import AsrSpec, LlmSpec, TtsSpec
from switchboard_serve.asr.faster_whisper import FasterWhisperEngine
from switchboard_serve.asr.partial import PartialState, transcribe_partial
from switchboard_serve.embed.onnx import OnnxEmbeddingEngine
from switchboard_serve.llm.llamacpp import LlamaCppEngine
from switchboard_serve.packaged import (
    embedding_model_files,
    gguf_path,
    piper_voice_path,
    whisper_model_dir,
)
from switchboard_serve.tts.piper import PiperEngine
from switchboard_wire.audio import resample
from switchboard_wire.chat import ChatMessage, ReplyText

UTTERANCES = (
    "Hello, I would like to book an appointment for next Tuesday morning, if that is possible.",
    "Can you tell me whether you are open on Saturdays and where I can park my car?",
    "I need to cancel my visit on Thursday because I have to travel for work.",
)
SYSTEM = (
    "You are the receptionist of Acme Dental. Answer in one or two short sentences. "
    "Opening hours: Monday to Friday 8 am to 6 pm, Saturday 9 am to 1 pm. "
    "Parking is free behind the building. Appointments can be booked, moved or cancelled "
    "by phone. If you do not know something, say so and offer to take a message."
)


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def bench_tts(tts: PiperEngine, repeats: int) -> tuple[dict[str, float], list[np.ndarray]]:
    """Time to the first sentence's audio and the real-time factor of whole utterances."""
    first, rtf, audio = [], [], []
    for _ in range(repeats):
        for text in UTTERANCES:
            started = time.perf_counter()
            chunks: list[np.ndarray] = []
            for chunk in tts.synthesize(text):
                if not chunks:
                    first.append(time.perf_counter() - started)
                chunks.append(chunk)
            elapsed = time.perf_counter() - started
            samples = np.concatenate(chunks)
            rtf.append(elapsed / (samples.size / tts.sample_rate))
            audio.append(samples)
    return {"tts_first_audio_s": _median(first), "tts_real_time_factor": _median(rtf)}, audio


def bench_asr(asr: FasterWhisperEngine, audio: list[np.ndarray], rate: int) -> dict[str, float]:
    """Transcription time of Piper-synthesised utterances, absolute and per audio second."""
    per_second, seconds = [], []
    for samples in audio:
        pcm = resample(samples, rate, 16_000)
        started = time.perf_counter()
        asr.transcribe(pcm)
        elapsed = time.perf_counter() - started
        seconds.append(elapsed)
        per_second.append(elapsed / (pcm.size / 16_000))
    return {"asr_seconds": _median(seconds), "asr_seconds_per_audio_second": _median(per_second)}


def _growing_buffer_s(
    asr: FasterWhisperEngine, pcm: np.ndarray, step_s: float
) -> tuple[float, float, float]:
    """Seconds to follow `pcm` growing by `step_s`: re-transcribing, partial passes, final pass."""
    step = int(step_s * 16_000)
    ends = [*range(step, pcm.size, step), pcm.size]
    started = time.perf_counter()
    for end in ends:
        asr.transcribe(pcm[:end])
    naive = time.perf_counter() - started
    state: PartialState | None = None
    started = time.perf_counter()
    for end in ends[:-1]:
        state = transcribe_partial(asr, pcm[:end], state).state
    before_final = time.perf_counter()
    transcribe_partial(asr, pcm, state, final=True)
    done = time.perf_counter()
    return naive, done - started, done - before_final


def bench_partial(
    asr: FasterWhisperEngine, audio: list[np.ndarray], rate: int, step_s: float = 0.5
) -> dict[str, float]:
    """Following a growing buffer every `step_s`: local agreement vs re-decoding it all.

    Over the 4-6 s utterances, and over one ~15 s utterance (all three joined).
    """
    utterances = [resample(a, rate, 16_000) for a in audio[: len(UTTERANCES)]]
    short = [_growing_buffer_s(asr, pcm, step_s) for pcm in utterances]
    long_naive, long_partial, long_final = _growing_buffer_s(
        asr, np.concatenate(utterances), step_s
    )
    return {
        "asr_growing_short_retranscribe_s": _median([s[0] for s in short]),
        "asr_growing_short_partial_s": _median([s[1] for s in short]),
        "asr_growing_short_final_pass_s": _median([s[2] for s in short]),
        "asr_growing_long_retranscribe_s": round(long_naive, 3),
        "asr_growing_long_partial_s": round(long_partial, 3),
        "asr_growing_long_final_pass_s": round(long_final, 3),
    }


def bench_embed(embedder: OnnxEmbeddingEngine, repeats: int) -> dict[str, float]:
    """Latency of one short query and throughput of chunk-sized batches."""
    chunk = " ".join([SYSTEM] * 3)  # ~200 tokens, a typical knowledge-base chunk
    single, rates = [], []
    for _ in range(repeats):
        for text in UTTERANCES:
            started = time.perf_counter()
            embedder.embed([text])
            single.append(time.perf_counter() - started)
        started = time.perf_counter()
        embedder.embed([chunk] * 64)
        rates.append(64 / (time.perf_counter() - started))
    return {
        "embed_query_latency_s": _median(single),
        "embed_chunks_per_s": round(statistics.median(rates), 1),
    }


def _ttft(llm: LlamaCppEngine, messages: list[ChatMessage]) -> tuple[float, str, float]:
    started = time.perf_counter()
    first, text, tokens = 0.0, "", 0
    for event in llm.stream_chat(messages, max_tokens=48):
        if isinstance(event, ReplyText):
            if not text:
                first = time.perf_counter() - started
            text += event.text
            tokens += 1
    elapsed = time.perf_counter() - started
    return first, text, tokens / max(elapsed - first, 1e-6)


def bench_llm(llm: LlamaCppEngine, repeats: int) -> dict[str, float]:
    """Time to first token of a new conversation and of its next turn, and decode speed."""
    cold, warm, rates = [], [], []
    for i in range(repeats):
        # A unique first line makes every conversation's prompt cold.
        messages: list[ChatMessage] = [
            {"role": "system", "content": f"Conversation {i}-{time.time_ns()}. {SYSTEM}"},
            {"role": "user", "content": UTTERANCES[0]},
        ]
        first, reply, rate = _ttft(llm, messages)
        cold.append(first)
        rates.append(rate)
        messages += [
            {"role": "assistant", "content": reply},
            {"role": "user", "content": UTTERANCES[1]},
        ]
        first, _, rate = _ttft(llm, messages)
        warm.append(first)
        rates.append(rate)
    return {
        "llm_ttft_cold_s": _median(cold),
        "llm_ttft_warm_s": _median(warm),
        "llm_warm_over_cold": round(_median(warm) / _median(cold), 3),
        "llm_tokens_per_s": round(statistics.median(rates), 1),
    }


def main() -> None:
    """Run every stage and print the medians as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    tts = PiperEngine(TtsSpec(), piper_voice_path())
    asr = FasterWhisperEngine(AsrSpec(), whisper_model_dir(), cpu_threads=args.threads)
    llm = LlamaCppEngine(LlmSpec(), gguf_path(), threads=args.threads)
    embedder = OnnxEmbeddingEngine(EmbeddingSpec(), *embedding_model_files(), threads=args.threads)
    results: dict[str, object] = {"machine": f"{platform.machine()} x{args.threads} threads"}
    tts_results, audio = bench_tts(tts, args.repeats)
    results.update(tts_results)
    results.update(bench_asr(asr, audio, tts.sample_rate))
    results.update(bench_partial(asr, audio, tts.sample_rate))
    results.update(bench_llm(llm, args.repeats))
    results.update(bench_embed(embedder, args.repeats))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
