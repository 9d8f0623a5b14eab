"""The two-channel call recording: placement on the call's clock, barge-in cuts, bounds."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from switchboard_gateway.events import AudioFormat, Encoding
from switchboard_gateway.records import stereo
from switchboard_gateway.records.stereo import StereoRecorder, file_rate
from switchboard_wire.audio import mulaw_encode

pytestmark = pytest.mark.unit

PCM16K = AudioFormat(16_000, Encoding.PCM16)
PHONE = AudioFormat(8_000, Encoding.MULAW)


def _tone(value: int, seconds: float, rate: int = 16_000) -> bytes:
    return np.full(round(seconds * rate), value, "<i2").tobytes()


def _read(path: Path) -> tuple[int, np.ndarray, np.ndarray]:
    with wave.open(str(path)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (2, 2)
        frames = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1, 2)
        return reader.getframerate(), frames[:, 0], frames[:, 1]


def test_the_file_is_8_khz_only_when_both_sides_are_8_khz_phone_audio() -> None:
    assert file_rate(PHONE, PHONE) == 8_000
    assert file_rate(AudioFormat(8_000), PHONE) == 8_000
    assert file_rate(PHONE, PCM16K) == 16_000
    assert file_rate(AudioFormat(48_000), AudioFormat(24_000)) == 16_000


def test_caller_audio_ends_at_its_arrival_and_agent_frames_start_when_sent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "call.wav"
    recorder = StereoRecorder(path, PCM16K, PCM16K)
    for k in range(50):  # one second of caller audio, 20 ms chunks arriving in real time
        recorder.caller_audio(_tone(1000, 0.02), at=1.0 + (k + 1) * 0.02)
    recorder.agent_audio(_tone(2000, 0.5), at=3.0)
    assert recorder.finish() == 3.5 * 16_000
    rate, left, right = _read(path)
    assert rate == 16_000
    assert not left[:16_000].any()
    assert (left[16_000:32_000] == 1000).all()
    assert not left[32_000:].any()
    assert not right[:48_000].any()
    assert (right[48_000:] == 2000).all()


def test_agent_frames_sent_ahead_play_one_after_another(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recorder = StereoRecorder(path, PCM16K, PCM16K)
    for k in range(10):  # ten 20 ms frames sent at once: they play for 200 ms
        recorder.agent_audio(_tone(100 + k, 0.02), at=1.0)
    recorder.finish()
    _, _, right = _read(path)
    for k in range(10):
        start = 16_000 + k * 320
        assert (right[start : start + 320] == 100 + k).all(), k


def test_a_clear_cuts_the_agent_channel_where_it_happened(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recorder = StereoRecorder(path, PCM16K, PCM16K)
    recorder.agent_audio(_tone(3000, 2.0), at=1.0)  # two seconds sent ahead at once
    recorder.clear(at=1.5)  # barge-in half a second in: the rest was never played
    recorder.agent_audio(_tone(500, 0.1), at=2.0)  # the next reply
    recorder.finish()
    _, _, right = _read(path)
    assert (right[16_000:24_000] == 3000).all()
    assert not right[24_000:32_000].any()
    assert (right[32_000:33_600] == 500).all()
    assert not right[33_600:].any()


def test_late_caller_chunks_never_overlap_and_add_at_most_the_worst_jitter(
    tmp_path: Path,
) -> None:
    path = tmp_path / "call.wav"
    recorder = StereoRecorder(path, PCM16K, PCM16K)
    jitter = [0.0, 0.004, 0.001, 0.006, 0.0, 0.002] * 20
    for k, late in enumerate(jitter):
        recorder.caller_audio(_tone(k + 1, 0.02), at=(k + 1) * 0.02 + late)
    recorder.finish()
    _, left, _ = _read(path)
    values = left[left != 0]
    assert len(values) == len(jitter) * 320  # every sample kept, none overwritten
    assert list(dict.fromkeys(values.tolist())) == list(range(1, len(jitter) + 1))
    assert len(left) <= len(jitter) * 320 + round(0.006 * 16_000) + 1


def test_phone_audio_records_at_8_khz_decoded_from_mulaw(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recorder = StereoRecorder(path, PHONE, PHONE)
    frame = mulaw_encode(np.full(160, 0.25, np.float32))
    recorder.caller_audio(frame, at=0.02)
    recorder.agent_audio(frame, at=0.02)
    recorder.finish()
    rate, left, right = _read(path)
    assert rate == 8_000
    assert abs(int(left[80]) - 8192) < 300
    assert abs(int(right[240]) - 8192) < 300


def test_a_48_khz_caller_is_resampled_and_stays_on_time(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recorder = StereoRecorder(path, AudioFormat(48_000), AudioFormat(24_000))
    for k in range(100):  # two seconds of a steady level from 1 s on
        recorder.caller_audio(_tone(4000, 0.02, 48_000), at=1.0 + (k + 1) * 0.02)
    recorder.finish()
    rate, left, _ = _read(path)
    assert rate == 16_000
    loud = np.flatnonzero(np.abs(left.astype(int) - 4000) < 200)
    # The resampler's delay is accounted for: the level starts within 10 ms of 1 s.
    assert abs(int(loud[0]) - 16_000) < 160, loud[0]
    assert len(loud) > 1.9 * 16_000


def test_memory_stays_bounded_over_a_long_call_and_the_length_is_capped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "call.wav"
    recorder = StereoRecorder(path, PCM16K, PCM16K, max_seconds=100.0)
    chunk = _tone(7, 0.1)
    most = 0
    for k in range(1200):  # two minutes of caller audio in 100 ms chunks
        recorder.caller_audio(chunk, at=(k + 1) * 0.1)
        most = max(most, len(recorder._buffer))
    assert most <= 2 * (stereo.WINDOW_S + 2 * stereo._WRITE_S) * 16_000  # capacity doubles
    assert recorder.finish() == 100 * 16_000  # audio past the call's longest is not kept
    _, left, _ = _read(path)
    assert (left == 7).all()


def test_a_client_sending_faster_than_real_time_cannot_grow_the_buffer(
    tmp_path: Path,
) -> None:
    recorder = StereoRecorder(tmp_path / "call.wav", PCM16K, PCM16K)
    for _ in range(200):  # 200 s of audio at once
        recorder.caller_audio(_tone(1, 1.0), at=1.0)
    assert len(recorder._buffer) <= 2 * (1.0 + stereo.MAX_AHEAD_S) * 16_000
    assert recorder.finish() <= (1.0 + stereo.MAX_AHEAD_S) * 16_000 + 1


def test_malformed_caller_audio_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recorder = StereoRecorder(path, PCM16K, PCM16K)
    recorder.caller_audio(b"\x01\x00\x01", at=0.5)  # odd length: the whole samples only
    recorder.finish()
    _, left, _ = _read(path)
    assert left.tolist()[-1:] == [1]
