"""The protocol every TTS engine implements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import numpy.typing as npt


class TtsEngine(Protocol):
    """Synthesises text sentence by sentence, so playback can start on the first one."""

    @property
    def sample_rate(self) -> int:
        """The rate of the audio `synthesize` yields."""
        ...

    def synthesize(self, text: str) -> Iterator[npt.NDArray[np.float32]]:
        """Yield mono float32 audio, one chunk per sentence, as soon as each is ready."""
        ...
