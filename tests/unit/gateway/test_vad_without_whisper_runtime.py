"""The gateway's VAD runs where faster-whisper's transcription runtime is absent.

The gateway image uninstalls ctranslate2 and PyAV (see its Dockerfile): a subprocess in which
importing either fails must still find the Silero model and score audio, without importing
faster-whisper at all.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.unit

PROBE = textwrap.dedent(
    """
    import sys
    sys.modules["ctranslate2"] = None  # import ctranslate2 -> ImportError, as in the image
    sys.modules["av"] = None
    import numpy as np
    from switchboard_gateway.turns.vad import WINDOW_SAMPLES, StreamingVad, silero_model_path

    assert silero_model_path().name == "silero_vad_v6.onnx"
    windows = StreamingVad().feed(np.zeros(WINDOW_SAMPLES * 10, np.float32))
    assert len(windows) == 10
    assert all(0.0 <= w.probability < 0.2 for w in windows), windows
    assert "faster_whisper" not in sys.modules
    print("ok")
    """
)


def test_vad_needs_neither_ctranslate2_nor_av() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
