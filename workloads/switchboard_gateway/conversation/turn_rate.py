"""How fast one caller may take turns: a token bucket over typed and spoken turns together.

A pure object: it never reads a clock; the session passes the time of each turn.
"""

from __future__ import annotations


class TurnRate:
    """`per_minute` turns sustained, with up to `burst` back to back."""

    def __init__(self, per_minute: int, burst: int, now: float) -> None:
        self._per_second = per_minute / 60
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = now

    def allow(self, now: float) -> bool:
        """Whether a turn at `now` keeps to the rate; an allowed turn uses a token."""
        elapsed = max(0.0, now - self._at)
        self._tokens = min(self._burst, self._tokens + elapsed * self._per_second)
        self._at = max(self._at, now)
        if self._tokens + 1e-9 < 1:
            return False
        self._tokens -= 1
        return True
