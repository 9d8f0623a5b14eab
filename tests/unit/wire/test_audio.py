"""Audio conversions: PCM16, WAV decoding with clear errors, resampling, G.711 μ-law."""

from __future__ import annotations

import io
import sys
import wave

import numpy as np
import pytest

from switchboard_wire.audio import (
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


def test_out_of_range_samples_are_clipped_not_wrapped() -> None:
    loud = np.array([1.5, -1.5, 1.0], np.float32)
    assert np.frombuffer(float_to_pcm16(loud), "<i2").tolist() == [32767, -32768, 32767]


def test_odd_length_pcm16_is_refused() -> None:
    with pytest.raises(AudioFormatError, match="odd number of bytes"):
        pcm16_to_float(b"\x00\x00\x00")


def test_wav_round_trip_keeps_rate_and_samples() -> None:
    tone = _tone()
    samples, rate = decode_wav(encode_wav(float_to_pcm16(tone), 24_000))
    assert rate == 24_000
    assert np.abs(samples - tone).max() < 1 / 32768 + 1e-7


def test_multichannel_wav_is_mixed_down() -> None:
    left = float_to_pcm16(np.full(100, 0.5, np.float32))
    right = float_to_pcm16(np.zeros(100, np.float32))
    interleaved = np.stack(
        [np.frombuffer(left, "<i2"), np.frombuffer(right, "<i2")], axis=1
    ).tobytes()
    samples, _ = decode_wav(_wav(interleaved, channels=2))
    assert np.allclose(samples, 0.25, atol=1e-4)
    three = np.repeat(np.frombuffer(left, "<i2"), 3).tobytes()
    samples, _ = decode_wav(_wav(three, channels=3))
    assert np.allclose(samples, 0.5, atol=1e-4)


@pytest.mark.parametrize("width", [1, 3])
def test_8_and_24_bit_wavs_decode_to_the_same_level(width: int) -> None:
    tone = _tone()
    if width == 1:
        frames = np.round(tone * 127 + 128).astype(np.uint8).tobytes()
    else:
        ints = np.round(tone * ((1 << 23) - 1)).astype("<i4")
        frames = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints)
    samples, rate = decode_wav(_wav(frames, width=width))
    assert rate == 16_000
    assert np.abs(samples - tone).max() < 0.01


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "not a WAV file"),
        (b"\x00" * 100, "not a WAV file"),
        (b"ID3" + b"\x00" * 200, "not a WAV file"),
        (_wav(float_to_pcm16(_tone()))[:2000], "truncated WAV"),
        (_wav(b"\x00" * 400, width=4), "8, 16 or 24-bit PCM"),
    ],
    ids=["empty", "zeros", "mp3", "truncated", "32-bit"],
)
def test_bad_wav_input_gets_a_clear_error(data: bytes, fragment: str) -> None:
    with pytest.raises(AudioFormatError, match=fragment):
        decode_wav(data)


def test_resampling_keeps_duration_and_pitch() -> None:
    tone = _tone(1.0, 22_050, 440.0)
    out = resample(tone, 22_050, 16_000)
    assert len(out) == 16_000
    assert out.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 16_000 / len(out) - 440.0) < 2.0


def test_resampling_to_the_same_rate_is_a_no_op_and_bad_rates_are_refused() -> None:
    tone = _tone()
    assert resample(tone, 16_000, 16_000) is tone
    with pytest.raises(AudioFormatError, match="positive"):
        resample(tone, 0, 16_000)


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
