"""The caller's utterance being captured: its audio, and what partial passes made of it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from switchboard_gateway.audio import PIPELINE_RATE
from switchboard_wire.audio import Float32, float_to_pcm16

#: Audio after the end of speech sent to ASR: whisper invents words ("cars.", "Force of") in
#: longer trailing silence.
TRAILING_SILENCE_S = 0.25


@dataclass
class Utterance:
    """Caller audio of one turn from shortly before its speech started, and its ASR state."""

    audio: list[Float32] = field(default_factory=list)
    seconds: float = 0.0
    #: Call audio time of the utterance's first sample.
    starts_at: float = 0.0
    #: Whether it began while the agent was replying (a backchannel unless it interrupts).
    over_agent: bool = False
    #: The ASR engine's state after the last partial pass, and what that pass heard.
    state: str | None = None
    words: int = 0
    #: Seconds of the utterance the last partial pass transcribed.
    heard: float = 0.0
    #: Utterance seconds at which the last partial pass was asked for.
    partial_at: float = 0.0

    def append(self, samples: Float32) -> None:
        """More caller audio."""
        self.audio.append(samples)
        self.seconds += samples.size / PIPELINE_RATE

    def pcm16(self, until: float | None = None) -> bytes:
        """The audio as PCM16, optionally only up to call audio time `until`."""
        samples = np.concatenate(self.audio) if self.audio else np.zeros(0, np.float32)
        if until is not None:
            samples = samples[: max(0, int((until - self.starts_at) * PIPELINE_RATE))]
        return float_to_pcm16(samples)

    def for_asr(self, speech_end: float, still_speaking: bool) -> bytes:
        """The audio up to shortly after its speech, never shorter than already heard."""
        if still_speaking:
            return self.pcm16()
        until = max(speech_end + TRAILING_SILENCE_S, self.starts_at + self.heard)
        return self.pcm16(until=until)
