"""Streaming Silero VAD on real speech: matches the whole-file model, finds the speech."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.vad import SileroVADModel

from switchboard_api.pipeline import TtsSpec
from switchboard_gateway.turns.speech import SpeechDetector, SpeechStarted, SpeechStopped
from switchboard_gateway.turns.vad import WINDOW_SAMPLES, StreamingVad, silero_model_path
from switchboard_serve.packaged import piper_voice_path
from switchboard_serve.tts.piper import PiperEngine
from switchboard_wire.audio import resample

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    tts = PiperEngine(TtsSpec(), piper_voice_path())
    audio = np.concatenate(list(tts.synthesize("Hello, I would like to book a table for two.")))
    return resample(audio, tts.sample_rate, 16_000)


def test_streamed_in_odd_chunks_it_matches_the_whole_file_model(speech: np.ndarray) -> None:
    audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(8000, np.float32)])
    audio = audio[: audio.size // WINDOW_SAMPLES * WINDOW_SAMPLES]
    reference = SileroVADModel(str(silero_model_path()))(audio).reshape(-1)
    vad = StreamingVad()
    probabilities = []
    for start in range(0, audio.size, 333):  # chunks that straddle windows
        probabilities += [w.probability for w in vad.feed(audio[start : start + 333])]
    assert np.allclose(probabilities, reference, atol=1e-5)


def test_the_detector_finds_speech_between_silences(speech: np.ndarray) -> None:
    lead, tail = 1.0, 1.0
    audio = np.concatenate(
        [np.zeros(int(lead * 16_000), np.float32), speech, np.zeros(int(tail * 16_000), np.float32)]
    )
    vad, detector = StreamingVad(), SpeechDetector(min_silence_s=0.3)
    events = []
    for start in range(0, audio.size, 320):  # 20 ms frames, as callers send them
        for window in vad.feed(audio[start : start + 320]):
            event = detector.update(window)
            if event is not None:
                events.append(event)
    assert isinstance(events[0], SpeechStarted)
    assert isinstance(events[-1], SpeechStopped)
    assert events[0].at == pytest.approx(lead, abs=0.15)
    assert events[-1].at == pytest.approx(lead + speech.size / 16_000, abs=0.25)
