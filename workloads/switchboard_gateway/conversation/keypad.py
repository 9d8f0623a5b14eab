"""One call's keypad: DTMF keys collected into caller turns, on the call's clock.

The collection rules are `turns.dtmf`'s (pure); this owns the timer that ends a collection
when no key has come for `interDigitTimeoutMs`, and hands each finished turn on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from switchboard_gateway.conversation.clock import Clock
from switchboard_gateway.turns.dtmf import DtmfCollector, DtmfRules, pressed_text


class Keypad:
    """Keys in, caller turns ("The caller pressed 1 2 3 #.") out through `on_turn`."""

    def __init__(
        self, rules: DtmfRules, clock: Clock, on_turn: Callable[[str], Awaitable[None]]
    ) -> None:
        self._collector = DtmfCollector(rules)
        self._clock, self._on_turn = clock, on_turn
        self._pressed = asyncio.Event()

    async def press(self, keys: str) -> None:
        """Keys the caller pressed (already checked to be DTMF keys)."""
        for finished in self._collector.press(keys, self._clock.now()):
            await self._on_turn(pressed_text(finished))
        self._pressed.set()

    async def run(self) -> None:
        """The timer: a collection nobody finished becomes a turn when its time is up."""
        while True:
            due = self._collector.due
            if due is None:
                self._pressed.clear()
                await self._pressed.wait()
                continue
            await self._clock.sleep(due - self._clock.now())
            keys = self._collector.expire(self._clock.now())
            if keys:
                await self._on_turn(pressed_text(keys))
