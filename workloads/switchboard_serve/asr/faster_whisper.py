"""faster-whisper (CTranslate2): int8 on CPU, float16 on CUDA."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
from faster_whisper import WhisperModel

from switchboard_api.pipeline import AsrSpec
from switchboard_serve.asr.base import ASR_SAMPLE_RATE, Transcript, Word


def _cuda_available() -> bool:
    import ctranslate2

    return bool(ctranslate2.get_cuda_device_count() > 0)


class FasterWhisperEngine:
    """A whisper model loaded once and shared by every call of every agent using it."""

    def __init__(self, spec: AsrSpec, model_dir: Path, cpu_threads: int = 0) -> None:
        device = spec.device
        if device == "auto":
            device = "cuda" if _cuda_available() else "cpu"
        compute_type = "float16" if device == "cuda" else "int8"
        self._spec = spec
        self.device = device
        self._model = WhisperModel(
            str(model_dir), device=device, compute_type=compute_type, cpu_threads=cpu_threads
        )

    def transcribe(
        self, audio: npt.NDArray[np.float32], *, language: str | None = None
    ) -> Transcript:
        """Greedy decoding with word timestamps; our own VAD already cut the utterance."""
        segments, info = self._model.transcribe(
            audio,
            language=language or self._spec.language,
            beam_size=1,
            word_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        segments = list(segments)
        words = tuple(
            Word(
                w.word.strip(),
                round(float(w.start), 3),
                round(float(w.end), 3),
                round(float(w.probability), 4),
            )
            for s in segments
            for w in (s.words or [])
        )
        logprobs = [s.avg_logprob for s in segments]
        confidence = math.exp(float(np.mean(logprobs))) if logprobs else 0.0
        return Transcript(
            text=" ".join(s.text.strip() for s in segments).strip(),
            language=info.language,
            words=words,
            confidence=round(min(1.0, confidence), 4),
            audio_seconds=round(audio.size / ASR_SAMPLE_RATE, 3),
        )
