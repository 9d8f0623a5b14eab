"""Audio at the gateway's edges: caller formats in, 16 kHz float32 inside, the output format out."""

from __future__ import annotations

import sys

import numpy as np
import numpy.typing as npt
import soxr

from switchboard_gateway.events import AudioFormat, Encoding, ProtocolError

if sys.version_info >= (3, 13):  # pragma: no cover - audioop left the stdlib in 3.13
    import audioop_lts as audioop
else:  # pragma: no cover
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

Float32 = npt.NDArray[np.float32]
PIPELINE_RATE = 16_000


def decode(data: bytes, fmt: AudioFormat) -> Float32:
    """Caller bytes as float32 at the pipeline's 16 kHz."""
    if fmt.encoding is Encoding.MULAW:
        data = audioop.ulaw2lin(data, 2)
    elif len(data) % 2:
        raise ProtocolError(f"PCM16 audio frame has an odd length ({len(data)} bytes)")
    samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    if fmt.sample_rate == PIPELINE_RATE:
        return samples
    return np.asarray(soxr.resample(samples, fmt.sample_rate, PIPELINE_RATE), np.float32)


def float_to_pcm16(samples: Float32) -> bytes:
    """Little-endian PCM16 from float32 in [-1, 1] (clipped)."""
    return bytes(np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").tobytes())


def encode_pcm16(pcm16: bytes, rate: int, fmt: AudioFormat) -> bytes:
    """PCM16 at `rate` (from TTS) in the output format."""
    if rate != fmt.sample_rate:
        samples = np.frombuffer(pcm16, "<i2").astype(np.float32) / 32768.0
        pcm16 = float_to_pcm16(np.asarray(soxr.resample(samples, rate, fmt.sample_rate)))
    if fmt.encoding is Encoding.MULAW:
        return bytes(audioop.lin2ulaw(pcm16, 2))
    return pcm16


def bytes_per_second(fmt: AudioFormat) -> int:
    """Size of one second of audio in the format."""
    return fmt.sample_rate * (1 if fmt.encoding is Encoding.MULAW else 2)
