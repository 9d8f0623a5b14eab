"""faster-whisper (CTranslate2): int8 on CPU, float16 on CUDA."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import ctranslate2
import numpy as np
import numpy.typing as npt
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import _LANGUAGE_CODES

from switchboard_api.pipeline import AsrSpec
from switchboard_serve.asr.base import ASR_SAMPLE_RATE, Transcript, Word
from switchboard_serve.asr.repetition import without_repetition_loops
from switchboard_serve.limits import ApiError

#: Audio after the end of the utterance that the `fit` window keeps; with less, whisper-base
#: starts to hallucinate on short utterances (1 s: repeated words; 2 s: none in our set).
FIT_PADDING_S = 2.0
_FRAMES_PER_SECOND = 100
#: Speech runs at ~3 words (~5 tokens) per second; a decode allowed far more than that is a
#: hallucination loop, which on CPU costs seconds (seen: 12 s for 0.5 s of audio).
_TOKENS_PER_SECOND_BOUND = 8
_TOKENS_SLACK = 12
_FULL_WINDOW_FRAMES = 3000


def fit_window_frames(audio_seconds: float) -> int:
    """Encoder input frames for the `fit` window: even (the encoder halves it), at most 30 s."""
    frames = math.ceil((audio_seconds + FIT_PADDING_S) * _FRAMES_PER_SECOND / 2) * 2
    return min(_FULL_WINDOW_FRAMES, frames)


class _WindowedWhisperModel(WhisperModel):  # type: ignore[misc]
    """faster-whisper pads every segment's features to 30 s; this encodes only a window of them.

    The window is per call and per thread, because one model serves concurrent calls.
    """

    def __init__(self, model_dir: str, device: str, compute_type: str, cpu_threads: int) -> None:
        super().__init__(
            model_dir, device=device, compute_type=compute_type, cpu_threads=cpu_threads
        )
        self._window = threading.local()

    def set_window(self, frames: int | None) -> None:
        """Frames the encoder sees on this thread's next calls (`None`: the full 30 s)."""
        self._window.frames = frames

    def encode(self, features: np.ndarray) -> ctranslate2.StorageView:
        """Encode only the window's leading frames of the padded features."""
        frames = getattr(self._window, "frames", None)
        if frames is not None and features.shape[-1] > frames:
            features = np.ascontiguousarray(features[..., :frames])
        return super().encode(features)


def _cuda_available() -> bool:
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
        self._model = _WindowedWhisperModel(
            str(model_dir), device=device, compute_type=compute_type, cpu_threads=cpu_threads
        )

    def transcribe(
        self,
        audio: npt.NDArray[np.float32],
        *,
        language: str | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        """Greedy decoding with word timestamps; our own VAD already cut the utterance."""
        if language is not None and language not in _LANGUAGE_CODES:
            message = f"whisper does not know the language {language[:20]!r}"
            raise ApiError(400, message, "unsupported_language", "language")
        seconds = audio.size / ASR_SAMPLE_RATE
        fit = self._spec.encoder_window == "fit"
        self._model.set_window(fit_window_frames(seconds) if fit else None)
        segments, info = self._model.transcribe(
            audio,
            language=language or self._spec.language,
            initial_prompt=prompt,
            beam_size=1,
            # One greedy pass, no temperature fallback: predictable latency matters more in a
            # call than the rare repetition the fallback fixes (bounded by max_new_tokens).
            temperature=0.0,
            max_new_tokens=math.ceil(seconds * _TOKENS_PER_SECOND_BOUND) + _TOKENS_SLACK,
            word_timestamps=True,
            condition_on_previous_text=False,
            # Silero drops the silence around speech before decoding: whisper invents words
            # ("Thank you.") in silence. Costs ~10 ms per 5 s of audio.
            vad_filter=True,
        )
        segments = list(segments)  # decoding happens here, on this thread
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
        text = " ".join(s.text.strip() for s in segments).strip()
        looped = without_repetition_loops(words)
        if len(looped) < len(words):
            words, text = looped, " ".join(w.text for w in looped)
        logprobs = [s.avg_logprob for s in segments]
        confidence = math.exp(float(np.mean(logprobs))) if logprobs else 0.0
        return Transcript(
            text=text,
            language=info.language,
            words=words,
            confidence=round(min(1.0, confidence), 4),
            audio_seconds=round(audio.size / ASR_SAMPLE_RATE, 3),
        )
