"""Virtual time for the call harness: sleeps resolve when the harness moves the clock on."""

from __future__ import annotations

import asyncio
import heapq

_MAX_SETTLE_ROUNDS = 2000


class FakeClock:
    """Virtual monotonic time: `sleep` waits until `advance` moves time past its deadline."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = 0

    def now(self) -> float:
        """Virtual seconds."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of virtual time."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._order += 1
        heapq.heappush(self._sleepers, (self._now + seconds, self._order, future))
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own deadline, in order."""
        target = self._now + seconds
        await settle()
        while self._sleepers and self._sleepers[0][0] <= target + 1e-12:
            deadline, _, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self._now = max(self._now, deadline)
            future.set_result(None)
            await settle()
        self._now = max(self._now, target)


async def settle() -> None:
    """Let every task that can run, run, until the event loop has nothing left to do."""
    loop = asyncio.get_running_loop()
    for _ in range(_MAX_SETTLE_ROUNDS):
        await asyncio.sleep(0)
        if not getattr(loop, "_ready", None):  # nothing else is scheduled: quiet
            return
