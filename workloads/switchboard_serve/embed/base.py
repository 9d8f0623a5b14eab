"""The protocol every embedding engine implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt


class EmbedEngine(Protocol):
    """Turns texts into unit-length vectors, so a dot product is the cosine similarity."""

    @property
    def dimensions(self) -> int:
        """Length of every vector."""
        ...

    @property
    def max_tokens(self) -> int:
        """Inputs longer than this many tokens are truncated by the model."""
        ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One L2-normalised row per text. Blocking: run it off the event loop."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the model sees for `texts` (after truncation), for usage reporting."""
        ...
