"""Smart Turn v3.2: whether the caller's turn sounds complete, from its last 8 s of audio.

The model (BSD-2-Clause, Daily) ships inside the `pipecat-ai` wheel, which is installed without
its dependencies only for this file: it is found without importing pipecat and its SHA-256 is
checked before it is loaded. Its input is Whisper's log-mel spectrogram of the last 8 s at
16 kHz, zero-padded at the start; its output is the probability that the turn is complete.
Features are computed here with numpy alone. One ONNX session (one intra-op thread) serves
every call; onnxruntime sessions may run from several threads at once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime

from switchboard_wire.audio import Float32

SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 8 * SAMPLE_RATE
MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
#: SHA-256 of `MODEL_FILE` in pipecat-ai 1.14.0.
MODEL_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
PIPECAT_VERSION = "1.14.0"

_N_FFT = 400  # 25 ms frames
_HOP = 160  # every 10 ms
_N_MELS = 80
_INSTALL = f"pip install --no-deps pipecat-ai=={PIPECAT_VERSION}"

#: Verdicts run here, never on the event loop; two threads on a 2-core machine.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="smart-turn")
_LOCK = threading.Lock()
_SESSION: list[onnxruntime.InferenceSession] = []


class SmartTurnModelError(RuntimeError):
    """The Smart Turn model file is missing or is not the file we checked."""


def smart_turn_model_path() -> Path:
    """The model file inside the installed pipecat-ai package (found without importing it)."""
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        raise SmartTurnModelError(
            f"pipecat-ai is not installed: it ships {MODEL_FILE} ({_INSTALL})"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "audio" / "turn" / "smart_turn" / "data" / MODEL_FILE
    if not path.is_file():
        raise SmartTurnModelError(f"{path} is missing: {_INSTALL}")
    return path


def _verified(data: bytes, path: Path) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise SmartTurnModelError(
            f"{path} has SHA-256 {digest}, expected {MODEL_SHA256} "
            f"(the file of pipecat-ai {PIPECAT_VERSION}): {_INSTALL}"
        )
    return data


def _session() -> onnxruntime.InferenceSession:
    with _LOCK:
        if not _SESSION:
            path = smart_turn_model_path()
            model = _verified(path.read_bytes(), path)  # the bytes checked are the bytes loaded
            options = onnxruntime.SessionOptions()
            options.inter_op_num_threads = 1
            options.intra_op_num_threads = 1
            options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
            options.log_severity_level = 4
            _SESSION.append(
                onnxruntime.InferenceSession(
                    model, sess_options=options, providers=["CPUExecutionProvider"]
                )
            )
        return _SESSION[0]


def last_window(audio: Float32) -> Float32:
    """The last 8 s of 16 kHz audio, zero-padded at the start when shorter."""
    tail = audio[-WINDOW_SAMPLES:].astype(np.float32, copy=False)
    if tail.size == WINDOW_SAMPLES:
        return tail
    return np.concatenate([np.zeros(WINDOW_SAMPLES - tail.size, np.float32), tail])


def _to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # Slaney's scale: linear below 1 kHz (3 mel per 200 Hz), logarithmic above.
    linear = 3.0 * hz / 200.0
    above = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) * (27.0 / np.log(6.4))
    return np.where(hz >= 1000.0, above, linear)


def _to_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    linear = 200.0 * mel / 3.0
    above = 1000.0 * np.exp((mel - 15.0) * (np.log(6.4) / 27.0))
    return np.where(mel >= 15.0, above, linear)


@cache
def _mel_matrix() -> npt.NDArray[np.float64]:
    """(80 mel bands, 201 FFT bins): area-normalised triangles evenly spaced in mel, 0-8 kHz."""
    edges = _to_hz(np.linspace(0.0, float(_to_mel(np.array([SAMPLE_RATE / 2.0]))[0]), _N_MELS + 2))
    bins = np.linspace(0.0, SAMPLE_RATE / 2.0, _N_FFT // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    triangles = np.clip(np.minimum(rising, falling), 0.0, None)
    return np.asarray(triangles * (2.0 / (upper - lower)), np.float64)


@cache
def _hann() -> npt.NDArray[np.float64]:
    n = np.arange(_N_FFT, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / _N_FFT)  # periodic, as torch.hann_window


def log_mel_features(window: Float32) -> npt.NDArray[np.float32]:
    """Whisper's log-mel spectrogram (80 x 800) of exactly 8 s of 16 kHz audio.

    The waveform is first scaled to zero mean and unit variance; frames are centred (reflected
    at the edges) and the last frame is dropped, as Whisper's feature extractor does.
    """
    if window.shape != (WINDOW_SAMPLES,):
        raise ValueError(f"expected {WINDOW_SAMPLES} samples, got shape {window.shape}")
    x = window.astype(np.float32)
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    half = _N_FFT // 2
    padded = np.pad(x.astype(np.float64), (half, half), mode="reflect")
    starts = np.arange(0, padded.size - _N_FFT + 1, _HOP)
    frames = padded[starts[:, None] + np.arange(_N_FFT)[None, :]] * _hann()
    spectrum = np.fft.rfft(frames, axis=1)
    power = spectrum.real**2 + spectrum.imag**2  # (801 frames, 201 bins)
    mel = np.log10(np.maximum(power @ _mel_matrix().T, 1e-10)).T[:, :-1]
    mel = np.maximum(mel, mel.max() - 8.0)  # at most 80 dB below the loudest band
    features: npt.NDArray[np.float32] = ((mel + 4.0) / 4.0).astype(np.float32)
    return features


def turn_complete_probability(audio: Float32) -> float:
    """The probability that the turn whose 16 kHz audio ends with `audio` is complete.

    Blocking (tens of ms on one core): call it through `judge` from the event loop.
    """
    features = log_mel_features(last_window(audio))[None, :, :]
    (output, *_) = _session().run(None, {"input_features": features})
    return float(np.asarray(output).reshape(-1)[0])


def judge(audio: Float32) -> Future[float]:
    """`turn_complete_probability` on the shared Smart Turn threads."""
    return _POOL.submit(turn_complete_probability, audio)


def _load() -> None:
    _session()


def preload() -> Future[None]:
    """Check and load the model on the Smart Turn threads, so the first verdict is not late."""
    return _POOL.submit(_load)
