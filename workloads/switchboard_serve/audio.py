"""Audio conversions used on the model plane: PCM16, WAV, resampling and G.711 μ-law.

Everything is mono. Bad input raises `AudioFormatError` with a message fit for a 4xx response.
"""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import numpy.typing as npt
import soxr

Float32 = npt.NDArray[np.float32]

#: Rates a client may send or ask for; anything else is refused rather than guessed at.
SUPPORTED_RATES = (8000, 16000, 22050, 24000, 44100, 48000)


class AudioFormatError(ValueError):
    """The audio is not what it claims to be (or not audio at all)."""


def pcm16_to_float(data: bytes) -> Float32:
    """Little-endian signed 16-bit samples → float32 in [-1, 1)."""
    if len(data) % 2:
        raise AudioFormatError("PCM16 data has an odd number of bytes")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16(samples: Float32) -> bytes:
    """float32 in [-1, 1] → little-endian signed 16-bit samples (clipped)."""
    clipped = np.clip(samples, -1.0, 32767 / 32768)
    return (clipped * 32768.0).round().astype("<i2").tobytes()


def resample(samples: Float32, source_rate: int, target_rate: int) -> Float32:
    """High-quality sample-rate conversion (libsoxr)."""
    for rate in (source_rate, target_rate):
        if rate not in SUPPORTED_RATES:
            raise AudioFormatError(
                f"unsupported sample rate {rate} Hz; supported: {SUPPORTED_RATES}"
            )
    if source_rate == target_rate or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    converted: Float32 = soxr.resample(samples, source_rate, target_rate).astype(np.float32)
    return converted


def decode_wav(data: bytes) -> tuple[Float32, int]:
    """Decode a PCM16 WAV (mono, or stereo mixed down) into float32 samples and its rate."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFormatError("not a WAV file (no RIFF/WAVE header)")
    try:
        with wave.open(io.BytesIO(data)) as reader:
            channels, width, rate = (
                reader.getnchannels(),
                reader.getsampwidth(),
                reader.getframerate(),
            )
            frames = reader.getnframes()
            raw = reader.readframes(frames)
    except (wave.Error, EOFError, struct.error) as error:
        raise AudioFormatError(f"malformed WAV: {error}") from None
    if width != 2:
        raise AudioFormatError(f"WAV must be 16-bit PCM, got {8 * width}-bit")
    if channels not in (1, 2):
        raise AudioFormatError(f"WAV must be mono or stereo, got {channels} channels")
    if rate not in SUPPORTED_RATES:
        raise AudioFormatError(f"unsupported sample rate {rate} Hz; supported: {SUPPORTED_RATES}")
    if len(raw) < frames * channels * width:
        raise AudioFormatError(
            f"truncated WAV: header announces {frames} frames, data holds "
            f"{len(raw) // (channels * width)}"
        )
    samples = pcm16_to_float(raw)
    if channels == 2:
        samples = samples.reshape(-1, 2).mean(axis=1).astype(np.float32)
    return samples, rate


def encode_wav(samples: Float32, rate: int) -> bytes:
    """Mono PCM16 WAV bytes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(float_to_pcm16(samples))
    return buffer.getvalue()


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
    """float32 samples from G.711 μ-law bytes."""
    value = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign = value & 0x80
    exponent = (value >> 4) & 0x07
    mantissa = value & 0x0F
    magnitude = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    pcm = np.where(sign != 0, -magnitude, magnitude)
    return (pcm / 32768.0).astype(np.float32)
