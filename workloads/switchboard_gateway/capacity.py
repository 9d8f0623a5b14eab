"""How many calls a gateway admits before a new one would push every call over its latency SLO.

A model plane on a few CPU cores serves a handful of calls within the voice-to-voice objective;
one more call past that does not fail by itself, it makes every call slower. So past its
capacity the gateway refuses NEW calls (`over_capacity`), and never touches live ones. The
capacity is configured (`GatewayConfig.capacityCalls`; `switchboard up` derives it from the
cores its packaged models run on, `CALLS_PER_CORE`), and docs/limits.md explains it.

Calls admitted but not yet running (a transport is still setting them up) are held as
reservations, so a burst of calls arriving together is counted before any of them starts. A
reservation that no call takes up within `HOLD_S` lapses.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: Calls per CPU core the packaged CPU models (whisper-base, SmolLM2-135M, Piper) serve near
#: the voice-to-voice objective (p95 ≤ 1.5 s), as measured on a quiet 2-core machine
#: (docs/benchmarks.md, "Capacity"): one call p50 ~1.0 s; 2 calls speaking at once p50 1.4 s;
#: 3 calls p50 2.1 s / p95 4.0 s; 6 calls p95 6.6 s. Past 1 a core, every call is slower than a
#: caller accepts, so new calls are refused instead. `switchboard up --capacity` overrides it.
CALLS_PER_CORE = 1.0
#: An admitted call not started within this long no longer counts.
HOLD_S = 10.0
#: The reason label and the prefix of the refusal's detail.
OVER_CAPACITY = "over_capacity"


def calls_for_cores(cores: float, calls_per_core: float = CALLS_PER_CORE) -> int:
    """The capacity of a model plane with `cores` CPU cores (at least one call)."""
    return max(1, math.floor(cores * calls_per_core + 1e-9))


@dataclass
class CallCapacity:
    """Calls in progress plus those admitted and starting, against the capacity."""

    #: Calls admitted at once within the SLO; None: no capacity (only the hard call limit).
    calls: int | None = None
    clock: Callable[[], float] = time.monotonic
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _held: dict[int, float] = field(default_factory=dict)

    def starting(self) -> int:
        """Calls admitted but not yet running (lapsed reservations dropped)."""
        oldest = self.clock() - HOLD_S
        for reservation in [r for r, at in self._held.items() if at < oldest]:
            del self._held[reservation]
        return len(self._held)

    def refusal(self, active: int) -> str | None:
        """Why a new call is refused (its detail, `over_capacity: ...`), or None when it fits."""
        if self.calls is None:
            return None
        admitted = active + self.starting()
        if admitted < self.calls:
            return None
        return (
            f"{OVER_CAPACITY}: {admitted} calls in progress and this gateway's capacity is"
            f" {self.calls} (capacityCalls: the calls its models serve within the latency"
            " objective); live calls keep their latency, try again later or elsewhere"
        )

    def reserve(self) -> int:
        """Hold a place for an admitted call until it runs (`release`)."""
        reservation = next(self._ids)
        self._held[reservation] = self.clock()
        return reservation

    def release(self, reservation: int | None) -> None:
        """The call runs (or never will): its reservation ends. Idempotent."""
        if reservation is not None:
            self._held.pop(reservation, None)
