"""Audio as it crosses deployables: PCM16, G.711 μ-law, resampling and WAV, all mono.

Inside a process audio is float32 in [-1, 1); on the wire it is little-endian PCM16 (or μ-law for
telephony), and a whole utterance travels as a WAV file. Bad input raises `AudioFormatError`
with a message fit for a 4xx response. Which sample rates an API accepts is that API's policy,
not these helpers'.
"""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import numpy.typing as npt
import soxr

Float32 = npt.NDArray[np.float32]


class AudioFormatError(ValueError):
    """The audio is not what it claims to be (or not audio at all)."""


def pcm16_to_float(data: bytes) -> Float32:
    """Little-endian signed 16-bit samples → float32 in [-1, 1)."""
    if len(data) % 2:
        raise AudioFormatError(f"PCM16 data has an odd number of bytes ({len(data)})")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16(samples: Float32) -> bytes:
    """float32 in [-1, 1] → little-endian signed 16-bit samples (clipped)."""
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()


def resample(samples: Float32, source_rate: int, target_rate: int) -> Float32:
    """High-quality sample-rate conversion (libsoxr)."""
    if source_rate <= 0 or target_rate <= 0:
        raise AudioFormatError(f"sample rates must be positive, got {source_rate}, {target_rate}")
    if source_rate == target_rate or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    converted: Float32 = soxr.resample(samples, source_rate, target_rate).astype(np.float32)
    return converted


_MULAW_BIAS = 0x84
_MULAW_CLIP_14BIT = 8159
_MULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])


def mulaw_encode(samples: Float32) -> bytes:
    """G.711 μ-law (as Twilio Media Streams carry it) from float32 samples.

    Bit-exact with the ITU/Sun reference encoder (and CPython's former `audioop.lin2ulaw`).
    """
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int32) >> 2
    negative = pcm < 0
    mask = np.where(negative, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _MULAW_CLIP_14BIT) + (_MULAW_BIAS >> 2)
    segment = np.searchsorted(_MULAW_SEGMENT_ENDS, magnitude, side="left")
    value = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value) ^ mask
    return value.astype(np.uint8).tobytes()


def mulaw_decode(data: bytes) -> Float32:
    """float32 samples from G.711 μ-law bytes (bit-exact with `audioop.ulaw2lin`)."""
    value = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign = value & 0x80
    exponent = (value >> 4) & 0x07
    mantissa = value & 0x0F
    magnitude = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    pcm = np.where(sign != 0, -magnitude, magnitude)
    return (pcm / 32768.0).astype(np.float32)


def encode_wav(pcm16: bytes, rate: int) -> bytes:
    """Mono PCM16 wrapped in a WAV header."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm16)
    return buffer.getvalue()


def decode_wav(data: bytes) -> tuple[Float32, int]:
    """A PCM WAV (8, 16 or 24-bit; channels mixed down) as float32 samples and its rate."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFormatError("not a WAV file (no RIFF/WAVE header)")
    try:
        with wave.open(io.BytesIO(data)) as reader:
            channels, width = reader.getnchannels(), reader.getsampwidth()
            rate, frames = reader.getframerate(), reader.getnframes()
            raw = reader.readframes(frames)
    except (wave.Error, EOFError, struct.error) as error:
        raise AudioFormatError(f"malformed WAV: {error}") from None
    if width not in (1, 2, 3):
        raise AudioFormatError(f"WAV must be 8, 16 or 24-bit PCM, got {8 * width}-bit")
    if len(raw) < frames * channels * width:
        raise AudioFormatError(
            f"truncated WAV: header announces {frames} frames, data holds "
            f"{len(raw) // (channels * width)}"
        )
    samples = _samples(raw, width)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.float32)
    return samples, rate


def _samples(raw: bytes, width: int) -> Float32:
    if width == 2:
        return pcm16_to_float(raw)
    if width == 1:  # unsigned, centred on 128
        return ((np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128).astype(np.float32)
    bytes3 = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
    # Little-endian 24-bit: shift into the top of an int32, then back down for the sign.
    ints = (bytes3[:, 0] << 8 | bytes3[:, 1] << 16 | bytes3[:, 2] << 24) >> 8
    return (ints / (1 << 23)).astype(np.float32)
