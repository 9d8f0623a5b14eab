"""A scripted caller's timeline: speech (a constant level per utterance), typing, keys, hang-up."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from switchboard_gateway.audio import PIPELINE_RATE

FRAME_S = 0.02
#: Caller speech levels: utterance i of a script is a constant (i + 1) times this.
LEVEL_STEP = 0.02


@dataclass(frozen=True, slots=True)
class Say:
    """The caller speaks `text` from `at` for `seconds`."""

    at: float
    seconds: float
    text: str


@dataclass(frozen=True, slots=True)
class Type:
    """The caller types `text` at `at`."""

    at: float
    text: str


@dataclass(frozen=True, slots=True)
class Press:
    """The caller presses keypad `keys` (DTMF) at `at`."""

    at: float
    keys: str


@dataclass(frozen=True, slots=True)
class Hangup:
    """The caller hangs up at `at`."""

    at: float


@dataclass
class CallScript:
    """A caller's timeline, in seconds from the start of the call."""

    says: list[Say] = field(default_factory=list)
    types: list[Type] = field(default_factory=list)
    presses: list[Press] = field(default_factory=list)
    hangup_at: float | None = None

    def say(self, at: float, seconds: float, text: str) -> CallScript:
        """Speak."""
        self.says.append(Say(at, seconds, text))
        return self

    def type(self, at: float, text: str) -> CallScript:
        """Type a turn."""
        self.types.append(Type(at, text))
        return self

    def press(self, at: float, keys: str) -> CallScript:
        """Press keypad keys (one DTMF event)."""
        self.presses.append(Press(at, keys))
        return self

    def hangup(self, at: float) -> CallScript:
        """Hang up."""
        self.hangup_at = at
        return self

    def frame(self, t: float) -> npt.NDArray[np.float32]:
        """The caller's 20 ms frame starting at `t`: silence or an utterance's level."""
        for index, say in enumerate(self.says):
            if say.at <= t + 1e-9 < say.at + say.seconds:
                return np.full(int(FRAME_S * PIPELINE_RATE), (index + 1) * LEVEL_STEP, np.float32)
        return np.zeros(int(FRAME_S * PIPELINE_RATE), np.float32)
