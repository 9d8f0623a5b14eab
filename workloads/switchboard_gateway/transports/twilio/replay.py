"""Signed stream parameters open one call: a replayed `<Connect><Stream>` opens no second one.

Inbound, the nonce is the call's own CallSid; outbound, a random value the gateway drew. A nonce
is remembered for as long as a call may last (4 h) in this process, the most recent 100,000 kept:
TwiML leaves the gateway only in answers to Twilio, so a replay needs it copied on the way.
"""

from __future__ import annotations

from collections import OrderedDict

#: `callPolicy.maxCallDurationSeconds` is at most 4 h: a nonce older than that opens nothing new.
NONCE_TTL_S = 4 * 3600.0
MAX_REMEMBERED = 100_000


class UsedNonces:
    """Nonces of streams already started here, forgotten after `ttl_s`."""

    def __init__(self, ttl_s: float = NONCE_TTL_S, limit: int = MAX_REMEMBERED) -> None:
        self._ttl_s, self._limit = ttl_s, limit
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_use(self, nonce: str, now: float) -> bool:
        """Whether `nonce` is new (and remember it), at monotonic time `now`."""
        while self._seen and next(iter(self._seen.values())) <= now - self._ttl_s:
            self._seen.popitem(last=False)
        if nonce in self._seen:
            return False
        self._seen[nonce] = now
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return True
