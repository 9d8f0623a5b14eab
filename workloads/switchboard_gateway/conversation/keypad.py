"""One call's keypad: DTMF keys collected into caller turns, on the call's clock.

The collection rules are `turns.dtmf`'s (pure); this owns the timer that ends a collection
when no key has come for `interDigitTimeoutMs`, and hands each finished turn on. Keys come no
faster than a person presses them: a client sending more than `KEYS_PER_SECOND` (after a burst)
is not a keypad, and its call ends before the keys can make turns the model must answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from switchboard_gateway.conversation.clock import Clock
from switchboard_gateway.conversation.rate import TokenBucket
from switchboard_gateway.events import ProtocolError
from switchboard_gateway.turns.dtmf import DtmfCollector, DtmfRules, pressed_text

#: A fast human presses about 8 keys a second; phone networks send each key as one event.
KEYS_PER_SECOND = 10
KEYS_BURST = 20


class Keypad:
    """Keys in, caller turns ("The caller pressed 1 2 3 #.") out through `on_turn`."""

    def __init__(
        self, rules: DtmfRules, clock: Clock, on_turn: Callable[[str], Awaitable[None]]
    ) -> None:
        self._collector = DtmfCollector(rules)
        self._clock, self._on_turn = clock, on_turn
        self._pressed = asyncio.Event()
        self._rate = TokenBucket(KEYS_PER_SECOND, KEYS_BURST, clock.now())

    async def press(self, keys: str) -> None:
        """Keys the caller pressed (already checked to be DTMF keys).

        Raises `ProtocolError` when keys come faster than a keypad sends them.
        """
        now = self._clock.now()
        if not all(self._rate.allow(now) for _ in keys):
            raise ProtocolError(
                f"keypad keys faster than {KEYS_PER_SECOND} a second after a burst of"
                f" {KEYS_BURST}: not a phone keypad"
            )
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
