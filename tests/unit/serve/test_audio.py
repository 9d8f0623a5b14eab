"""Audio conversions: PCM16, WAV decoding with clear errors, resampling, G.711 μ-law."""

from __future__ import annotations

import io
import sys
import wave

import numpy as np
import pytest

from switchboard_serve.audio import (
    AudioFormatError,
    decode_wav,
    encode_wav,
    float_to_pcm16,
    mulaw_decode,
    mulaw_encode,
    pcm16_to_float,
    resample,
)

pytestmark = pytest.mark.unit

if sys.version_info >= (3, 13):  # audioop left the standard library; audioop-lts replaces it
    import audioop  # type: ignore[import-not-found, unused-ignore]
else:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop


def _tone(seconds: float = 0.5, rate: int = 16_000, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _wav(frames: bytes, rate: int = 16_000, channels: int = 1, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return buffer.getvalue()


def test_pcm16_round_trip_is_exact_for_every_sample_value() -> None:
    pcm = np.arange(-32768, 32768, dtype="<i2").tobytes()
    assert float_to_pcm16(pcm16_to_float(pcm)) == pcm


def test_wav_round_trip_keeps_rate_and_samples() -> None:
    tone = _tone()
    samples, rate = decode_wav(encode_wav(tone, 16_000))
    assert rate == 16_000
    assert np.abs(samples - tone).max() < 1 / 32768 + 1e-7


def test_stereo_wav_is_mixed_down() -> None:
    left = float_to_pcm16(np.full(100, 0.5, np.float32))
    right = float_to_pcm16(np.zeros(100, np.float32))
    interleaved = np.stack(
        [np.frombuffer(left, "<i2"), np.frombuffer(right, "<i2")], axis=1
    ).tobytes()
    samples, _ = decode_wav(_wav(interleaved, channels=2))
    assert np.allclose(samples, 0.25, atol=1e-4)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "not a WAV file"),
        (b"\x00" * 100, "not a WAV file"),
        (b"ID3" + b"\x00" * 200, "not a WAV file"),
        (_wav(float_to_pcm16(_tone()))[:2000], "truncated WAV"),
        (_wav(b"\x00" * 300, width=1), "16-bit PCM"),
        (_wav(b"\x00" * 400, rate=11_025), "unsupported sample rate 11025"),
        (_wav(b"\x00" * 600, channels=3), "mono or stereo"),
    ],
    ids=["empty", "zeros", "mp3", "truncated", "8-bit", "odd-rate", "3-channels"],
)
def test_bad_wav_input_gets_a_clear_error(data: bytes, fragment: str) -> None:
    with pytest.raises(AudioFormatError, match=fragment):
        decode_wav(data)


def test_resampling_keeps_duration_and_pitch() -> None:
    tone = _tone(1.0, 22_050, 440.0)
    out = resample(tone, 22_050, 16_000)
    assert len(out) == 16_000
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 16_000 / len(out) - 440.0) < 2.0


def test_resampling_refuses_unknown_rates() -> None:
    with pytest.raises(AudioFormatError, match="unsupported sample rate 12345"):
        resample(_tone(), 12_345, 16_000)


def test_mulaw_is_bit_exact_with_the_g711_reference() -> None:
    pcm = np.arange(-32768, 32768, dtype="<i2").tobytes()
    assert mulaw_encode(pcm16_to_float(pcm)) == audioop.lin2ulaw(pcm, 2)
    every_code = bytes(range(256))
    expected = np.frombuffer(audioop.ulaw2lin(every_code, 2), "<i2")
    assert np.array_equal(np.round(mulaw_decode(every_code) * 32768).astype("<i2"), expected)


def test_mulaw_silence_and_extremes() -> None:
    assert mulaw_encode(np.zeros(1, np.float32)) == b"\xff"
    assert mulaw_encode(np.array([1.0, -1.0], np.float32)) == b"\x80\x00"
    tone = _tone()
    error = np.abs(mulaw_decode(mulaw_encode(tone)) - tone)
    assert error.max() < 0.02, "μ-law keeps ~14 bits of dynamic range"
