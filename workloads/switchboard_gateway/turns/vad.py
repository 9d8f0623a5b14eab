"""Silero VAD (the ONNX model shipped inside faster-whisper), streamed 32 ms at a time.

Each call keeps its own recurrent state and the last 64 samples of context; the ONNX session is
shared by every call in the process (inference is ~0.1 ms per window on one core).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime

VAD_SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 512  # 32 ms at 16 kHz
WINDOW_S = WINDOW_SAMPLES / VAD_SAMPLE_RATE
_CONTEXT_SAMPLES = 64


def silero_model_path() -> Path:
    """The Silero VAD model inside the installed faster-whisper package.

    Found without importing faster-whisper: its runtime (ctranslate2, PyAV) is not needed for
    VAD, and the gateway image leaves it out.
    """
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("faster-whisper is not installed: it ships the Silero VAD model")
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "silero_vad_v6.onnx"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: reinstall faster-whisper")
    return path


@cache
def _session() -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(
        str(silero_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )


@dataclass(frozen=True, slots=True)
class VadWindow:
    """Speech probability of one 32 ms window ending at `end` (seconds of call audio)."""

    end: float
    probability: float


class Vad(Protocol):
    """Speech probabilities of 32 ms windows from one call's 16 kHz audio."""

    def feed(self, audio: npt.NDArray[np.float32]) -> list[VadWindow]:
        """Probabilities of every window completed by `audio`."""
        ...


@dataclass
class StreamingVad:
    """Speech probabilities for one call's 16 kHz audio, fed in chunks of any length."""

    _h: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((1, 1, 128), np.float32))
    _c: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((1, 1, 128), np.float32))
    _context: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.zeros(_CONTEXT_SAMPLES, np.float32)
    )
    _pending: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    _samples_seen: int = 0

    def feed(self, audio: npt.NDArray[np.float32]) -> list[VadWindow]:
        """Probabilities of every window completed by `audio`."""
        buffer = np.concatenate([self._pending, audio]) if self._pending.size else audio
        windows = []
        whole = buffer.size - buffer.size % WINDOW_SAMPLES
        for start in range(0, whole, WINDOW_SAMPLES):
            window = buffer[start : start + WINDOW_SAMPLES]
            model_input = np.concatenate([self._context, window])[None, :]
            output, self._h, self._c = _session().run(
                None, {"input": model_input, "h": self._h, "c": self._c}
            )
            self._context = window[-_CONTEXT_SAMPLES:]
            self._samples_seen += WINDOW_SAMPLES
            probability = float(np.asarray(output).reshape(-1)[0])
            windows.append(VadWindow(self._samples_seen / VAD_SAMPLE_RATE, probability))
        self._pending = buffer[whole:].copy()
        return windows
