"""Caller speech for tests that talk to an agent: texts spoken by Piper, as 16 kHz PCM16."""

from __future__ import annotations

import numpy as np

from switchboard_api.pipeline import TtsSpec
from switchboard_serve.packaged import piper_voice_path
from switchboard_serve.tts.piper import PiperEngine
from switchboard_wire.audio import resample

RATE = 16_000


def synthesise(texts: list[str]) -> list[bytes]:
    """Each text as 16 kHz PCM16, spoken by Piper."""
    tts = PiperEngine(TtsSpec(), piper_voice_path())
    out = []
    for text in texts:
        audio = resample(np.concatenate(list(tts.synthesize(text))), tts.sample_rate, RATE)
        out.append(np.clip(np.round(audio * 32768), -32768, 32767).astype("<i2").tobytes())
    return out
