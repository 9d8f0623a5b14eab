"""Partial passes with real whisper: the final text must not depend on when the passes ran.

The gateway runs a partial pass every 0.6 s of caller audio, so where the passes fall within an
utterance depends on timing. Cutting a tail inside the last word made whisper repeat its prompt
("What time do you open on Saturday? Do you open on Saturday? day.") in CI on a slower machine.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from switchboard_api.pipeline import AsrSpec, TtsSpec
from switchboard_serve.asr.faster_whisper import FasterWhisperEngine
from switchboard_serve.asr.partial import PartialState, transcribe_partial
from switchboard_serve.evaluation import word_error_rate
from switchboard_serve.packaged import piper_voice_path, whisper_model_dir
from switchboard_serve.tts.piper import PiperEngine
from switchboard_wire.audio import resample

pytestmark = pytest.mark.models

RATE = 16_000
UTTERANCES = ("What time do you open on Saturday?", "Is there parking near the clinic?")
#: Where the first partial pass falls (seconds after 0.6 s) and the silence after the speech.
SCHEDULES = [(offset, trailing) for offset in (0.15, 0.2, 0.35, 0.55) for trailing in (0.1, 0.4)]


@pytest.fixture(scope="module")
def speech() -> list[np.ndarray]:
    tts = PiperEngine(TtsSpec(), piper_voice_path())
    lead = np.zeros(int(0.3 * RATE), np.float32)
    return [
        np.concatenate(
            [lead, resample(np.concatenate(list(tts.synthesize(t))), tts.sample_rate, RATE)]
        )
        for t in UTTERANCES
    ]


def test_final_text_is_the_same_wherever_the_partial_passes_fell(
    speech: list[np.ndarray],
) -> None:
    asr = FasterWhisperEngine(AsrSpec(), whisper_model_dir(), cpu_threads=2)
    pairs = []
    for text, audio in zip(UTTERANCES, speech, strict=True):
        for offset, trailing in SCHEDULES:
            state: PartialState | None = None
            at = 0.6 + offset
            while at < audio.size / RATE:
                state = transcribe_partial(asr, audio[: int(at * RATE)], state).state
                at += 0.6
            heard = np.concatenate([audio, np.zeros(int(trailing * RATE), np.float32)])
            final = transcribe_partial(asr, heard, state, final=True)
            assert final.final
            assert final.unstable == ""
            pairs.append((text, final.text))
    for text in UTTERANCES:
        finals = [heard for said, heard in pairs if said == text]
        usual = Counter(finals).most_common(1)[0][0]
        # The claim: where the passes fell does not change what the final pass hears.
        assert word_error_rate([(usual, heard) for heard in finals]) <= 0.05, finals
    # Piper renders each run differently (its noise_scale is random): whisper may mishear a
    # word of one rendition in every schedule alike (CI: WER 0.077); more is a defect.
    assert word_error_rate(pairs) <= 0.1, pairs
