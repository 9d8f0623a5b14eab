"""A fixed 3 s signal for the Smart Turn feature test: a chirp, a beating tone and a hiss.

Analytic (no random generator), so the expected features in fixtures/smart_turn_features.json,
computed once by Pipecat 1.14's own feature code, stay valid on any numpy.
"""

from __future__ import annotations

import numpy as np

from switchboard_wire.audio import Float32

#: The feature frames (10 ms each) the fixture keeps: padding, onset, and the signal itself.
COLUMNS = [0, 250, 499, 500, 501, 520, 560, 600, 650, 700, 750, 790, 799]


def signal() -> Float32:
    """3 s at 16 kHz."""
    t = np.arange(3 * 16_000, dtype=np.float64) / 16_000
    chirp = 0.3 * np.sin(2 * np.pi * (150 * t + 400 * t**2))
    beating = 0.1 * np.sin(2 * np.pi * 1500 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    hiss = 0.02 * np.sin(np.arange(t.size, dtype=np.float64) ** 1.7)
    return np.asarray(chirp + beating + hiss, np.float32)
