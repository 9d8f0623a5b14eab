"""Coalescing of concurrent requests for the same work (pure asyncio, no I/O).

Rendering a tenant's model pool reads every agent in the namespace; when 500 agents arrive at
once, running it 500 times is waste. `Coalescer.run(key, fn)` guarantees the caller a run of
`fn` that *started after the call*, so no change is missed, while callers that queue behind
one run all share the next.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    """Runs one `fn` at a time per key; waiting callers share the next run."""

    def __init__(self) -> None:
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._started: defaultdict[str, int] = defaultdict(int)
        self._finished: dict[str, tuple[int, T | None, Exception | None]] = {}
        self.runs = 0

    async def run(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        """The result of a run of `fn` for `key` that started after this call."""
        wanted = self._started[key] + 1
        async with self._locks[key]:
            done = self._finished.get(key)
            if done is not None and done[0] >= wanted:
                if done[2] is not None:
                    raise done[2]
                return done[1]  # type: ignore[return-value]
            self._started[key] += 1
            number = self._started[key]
            self.runs += 1
            try:
                result = await fn()
            except Exception as error:
                self._finished[key] = (number, None, error)
                raise
            self._finished[key] = (number, result, None)
            return result

    @asynccontextmanager
    async def exclusive(self, key: str) -> AsyncIterator[None]:
        """Hold `key` as a run would: no run for `key` is in progress or starts meanwhile."""
        async with self._locks[key]:
            yield
