"""Smart Turn v3.2 on Piper speech, judged where the listener judges: at the end of speech.

The model file comes from the pipecat-ai wheel (installed --no-deps by .ci/bootstrap); each
utterance goes through streaming Silero VAD and the speech detector, and the model hears the
utterance (0.3 s of pre-roll) up to the window that ended it, as `Listener._judge_pause` does.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from switchboard_gateway.turns.smart_turn import (
    MODEL_SHA256,
    smart_turn_model_path,
    turn_complete_probability,
)
from switchboard_gateway.turns.speech import SpeechDetector, SpeechStarted, SpeechStopped
from switchboard_gateway.turns.vad import StreamingVad
from tests.speech import RATE, synthesise

pytestmark = pytest.mark.models

COMPLETE = "What time do you open on Saturday?"
#: Cut off after an article: Piper says a fragment ending in a preposition ("... for") with a
#: sentence's final fall, which the model hears as complete (0.53-0.95 measured).
CUT_OFF = "I would like to book an appointment for the"


@pytest.fixture(scope="module")
def verdicts() -> dict[str, float]:
    """Each text's probability of a complete turn at its first end of speech."""
    out = {}
    for text, pcm in zip((COMPLETE, CUT_OFF), synthesise([COMPLETE, CUT_OFF]), strict=True):
        speech = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
        audio = np.concatenate(
            [np.zeros(RATE // 2, np.float32), speech, np.zeros(RATE, np.float32)]
        )
        vad, detector, onset = StreamingVad(), SpeechDetector(), 0.0
        for start in range(0, audio.size, 320):  # 20 ms frames, as a transport sends them
            for window in vad.feed(audio[start : start + 320]):
                change = detector.update(window)
                if isinstance(change, SpeechStarted):
                    onset = change.at
                elif isinstance(change, SpeechStopped):
                    heard = audio[int((onset - 0.3) * RATE) : int(window.end * RATE)]
                    out[text] = turn_complete_probability(heard)
                    break
            if text in out:
                break
    return out


def test_the_model_file_is_the_one_whose_hash_we_checked() -> None:
    assert hashlib.sha256(smart_turn_model_path().read_bytes()).hexdigest() == MODEL_SHA256


def test_a_complete_question_scores_complete(verdicts: dict[str, float]) -> None:
    assert verdicts[COMPLETE] >= 0.5


def test_a_cut_off_fragment_scores_incomplete(verdicts: dict[str, float]) -> None:
    assert verdicts[CUT_OFF] < 0.5
