"""Real packaged models on CPU: Piper speaks, whisper-base listens."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from switchboard_api.pipeline import AsrSpec, TtsSpec
from switchboard_serve.asr.faster_whisper import FasterWhisperEngine
from switchboard_serve.evaluation import word_error_rate
from switchboard_serve.packaged import piper_voice_path, whisper_model_dir
from switchboard_serve.tts.piper import PiperEngine
from switchboard_wire.audio import mulaw_decode, mulaw_encode, resample

pytestmark = pytest.mark.models

SENTENCES = (
    "Hello, thanks for calling the dental clinic.",
    "We are open from Monday to Friday.",
    "Could I book an appointment for next Tuesday?",
    "Parking is free behind the building.",
    "Please hold while I check the calendar.",
    "The doctor will call you back this afternoon.",
    "I would like to cancel my visit on Thursday.",
    "Thank you for your patience, goodbye.",
)


@pytest.fixture(scope="module")
def tts() -> PiperEngine:
    return PiperEngine(TtsSpec(), piper_voice_path())


@pytest.fixture(scope="module")
def asr() -> FasterWhisperEngine:
    return FasterWhisperEngine(AsrSpec(), whisper_model_dir(), cpu_threads=2)


def _speak(tts: PiperEngine, text: str) -> np.ndarray:
    audio = np.concatenate(list(tts.synthesize(text)))
    return resample(audio, tts.sample_rate, 16_000)


def test_whisper_transcribes_piper_speech_with_low_word_error_rate(
    tts: PiperEngine, asr: FasterWhisperEngine
) -> None:
    pairs = []
    for sentence in SENTENCES:
        transcript = asr.transcribe(_speak(tts, sentence))
        assert transcript.language == "en"
        assert transcript.words, sentence
        assert 0.0 < transcript.confidence <= 1.0
        assert transcript.words[-1].end <= transcript.audio_seconds + 0.5
        pairs.append((sentence, transcript.text))
    wer = word_error_rate(pairs)
    assert wer <= 0.15, f"WER {wer:.3f}: {pairs}"


def test_silence_transcribes_to_little_or_nothing(asr: FasterWhisperEngine) -> None:
    transcript = asr.transcribe(np.zeros(16_000, dtype=np.float32))
    assert len(transcript.text.split()) <= 2


def test_tts_yields_the_first_sentence_before_the_whole_text_is_done(tts: PiperEngine) -> None:
    text = " ".join(SENTENCES[:4])
    started = time.perf_counter()
    chunks: Iterator[np.ndarray] = tts.synthesize(text)
    first = next(chunks)
    first_at = time.perf_counter() - started
    rest = list(chunks)
    total = time.perf_counter() - started
    assert len(rest) >= 3, "one chunk per sentence"
    assert first_at < total / 2, (first_at, total)
    assert first.size > 0.5 * tts.sample_rate, "the first chunk is a whole sentence of audio"


def test_mulaw_8khz_output_decodes_to_the_expected_duration(tts: PiperEngine) -> None:
    audio = np.concatenate(list(tts.synthesize(SENTENCES[0])))
    expected_seconds = audio.size / tts.sample_rate
    telephony = mulaw_encode(resample(audio, tts.sample_rate, 8_000))
    decoded = mulaw_decode(telephony)
    assert decoded.size / 8_000 == pytest.approx(expected_seconds, rel=0.05)
    assert float(np.sqrt(np.mean(decoded**2))) > 0.01, "speech, not silence"


def test_speed_changes_the_duration(tts: PiperEngine) -> None:
    fast = PiperEngine(TtsSpec(speed=1.5), piper_voice_path())
    normal = sum(c.size for c in tts.synthesize(SENTENCES[1]))
    quick = sum(c.size for c in fast.synthesize(SENTENCES[1]))
    assert quick < 0.8 * normal
