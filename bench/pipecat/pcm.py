"""The Pipecat baseline's wire: raw 16 kHz mono PCM16 in binary websocket messages, both ways.

Standard library only: imported by the bot (in Pipecat's own virtualenv) and by the benchmark
client (in Switchboard's), so both sides frame and judge audio the same way.
"""

from __future__ import annotations

import sys
from array import array

RATE = 16_000
#: The client sends 20 ms frames, as the Switchboard benchmark caller does.
FRAME_S = 0.02
FRAME_BYTES = int(RATE * FRAME_S) * 2
#: |sample| above this counts as sound (the same threshold as bench/voice_to_voice.py).
SILENT = 300


def _samples(pcm: bytes) -> array[int]:
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def is_loud(pcm: bytes) -> bool:
    """Whether any sample of little-endian PCM16 `pcm` is above the silence threshold."""
    return any(abs(sample) > SILENT for sample in _samples(pcm))


def last_loud_s(pcm: bytes, rate: int = RATE) -> float:
    """Seconds from the start of `pcm` to the end of its last sample above the threshold."""
    samples = _samples(pcm)
    for index in range(len(samples) - 1, -1, -1):
        if abs(samples[index]) > SILENT:
            return (index + 1) / rate
    return 0.0


def frames(pcm: bytes, frame_bytes: int = FRAME_BYTES) -> list[bytes]:
    """`pcm` cut into frames of `frame_bytes`, the last one padded with silence."""
    return [
        pcm[start : start + frame_bytes].ljust(frame_bytes, b"\0")
        for start in range(0, len(pcm), frame_bytes)
    ]


class PcmReassembler:
    """Whole PCM16 samples from websocket messages of any length (an odd byte waits)."""

    def __init__(self) -> None:
        self._carry = b""

    def feed(self, data: bytes) -> bytes:
        """The whole samples completed by `data`; a trailing odd byte is kept for the next."""
        data = self._carry + data
        cut = len(data) - len(data) % 2
        self._carry = data[cut:]
        return data[:cut]
