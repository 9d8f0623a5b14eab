"""Smart Turn's input: the last 8 s, zero-padded at the start, as Whisper log-mel features.

The expected values in fixtures/smart_turn_features.json were computed once by Pipecat 1.14's
own feature code (pipecat/audio/turn/smart_turn/_whisper_features.py, numpy only) on the fixed
signal of smart_turn_signal.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from switchboard_gateway.turns.smart_turn import (
    MODEL_SHA256,
    WINDOW_SAMPLES,
    SmartTurnModelError,
    _verified,
    last_window,
    log_mel_features,
)
from tests.unit.gateway.smart_turn_signal import signal

pytestmark = pytest.mark.unit

FIXTURE = Path(__file__).parent / "fixtures" / "smart_turn_features.json"


def test_features_match_pipecats_numerics_on_a_fixed_signal() -> None:
    expected = json.loads(FIXTURE.read_text())
    features = log_mel_features(last_window(signal()))
    assert list(features.shape) == expected["shape"] == [80, 800]
    assert features.dtype == np.float32
    got = np.stack([features[:, column] for column in expected["columns"]])
    np.testing.assert_allclose(got, np.array(expected["values"]), atol=2e-5)
    assert float(features.astype(np.float64).sum()) == pytest.approx(expected["sum"], abs=1e-2)


def test_short_audio_is_zero_padded_at_the_start() -> None:
    audio = np.full(16_000, 0.5, np.float32)
    window = last_window(audio)
    assert window.shape == (WINDOW_SAMPLES,)
    assert not window[: WINDOW_SAMPLES - 16_000].any()
    assert (window[-16_000:] == 0.5).all()


def test_long_audio_keeps_its_last_eight_seconds() -> None:
    audio = np.arange(10 * 16_000, dtype=np.float32)
    window = last_window(audio)
    assert window[0] == 2 * 16_000
    assert window[-1] == audio[-1]


def test_features_refuse_a_window_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="128000"):
        log_mel_features(np.zeros(16_000, np.float32))


def test_a_model_file_with_another_hash_is_refused_naming_both_hashes() -> None:
    with pytest.raises(SmartTurnModelError) as raised:
        _verified(b"not the model", Path("/models/smart-turn-v3.2-cpu.onnx"))
    message = str(raised.value)
    assert MODEL_SHA256 in message
    assert "pip install --no-deps pipecat-ai==1.14.0" in message
