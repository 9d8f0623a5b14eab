"""Token buckets for one caller: how fast they may take turns, and send messages.

Pure objects: they never read a clock; the session passes the time of each event.
"""

from __future__ import annotations


class TokenBucket:
    """`per_second` events sustained, with up to `burst` back to back."""

    def __init__(self, per_second: float, burst: float, now: float) -> None:
        self._per_second = per_second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._at)
        self._tokens = min(self._burst, self._tokens + elapsed * self._per_second)
        self._at = max(self._at, now)

    def allow(self, now: float) -> bool:
        """Whether an event at `now` keeps to the rate; an allowed event uses a token."""
        self._refill(now)
        if self._tokens + 1e-9 < 1:
            return False
        self._tokens -= 1
        return True

    def reserve(self, now: float) -> float:
        """Take a token even if it is not there yet: seconds to wait until it is (0: none)."""
        self._refill(now)
        self._tokens -= 1
        return max(0.0, -self._tokens / self._per_second)


def turn_rate(per_minute: int, burst: int, now: float) -> TokenBucket:
    """The caller's turns (typed and spoken together): `per_minute` sustained after `burst`."""
    return TokenBucket(per_minute / 60, burst, now)
