"""Model work a gateway has in flight, and whether a partial ASR pass may go out now.

On a few cores every model request competes for the same CPUs, and the model plane serves them
in arrival order. Callers wait for final passes, first LLM tokens and first TTS audio; partial
passes only feed interim transcripts (and barge-in word counts). So partial passes go out only
when the model plane is idle enough: no request a caller waits for in flight, no other partial
pass in flight, and at most `MAX_STREAMING` replies still streaming. The listener defers a pass
it may not send and asks again on its next audio frame.

Work is tracked by start time, and entries older than `STALE_S` are forgotten: a stream whose
consumer vanished without closing it cannot keep partial passes off for good.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Protocol, runtime_checkable

#: Replies (LLM or TTS streams past their first output) that may run beside a partial pass.
MAX_STREAMING = 1
#: A claim to send a partial pass holds this long before the pass itself is in flight.
CLAIM_S = 0.25
#: Work in flight longer than this is forgotten (every request has a shorter timeout).
STALE_S = 30.0


class Work(Enum):
    """What kind of model work is in flight."""

    #: A caller waits for it: a final pass, a reply's first token, a sentence's first audio.
    WAITED_FOR = "waited_for"
    #: A reply still streaming after its first output (it must keep ahead of playback).
    STREAMING = "streaming"
    #: A partial pass.
    PARTIAL = "partial"


class ModelLoad:
    """The model work of one gateway in flight, shared by every call and agent."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ids = itertools.count()
        self._running: dict[int, tuple[Work, float]] = {}
        self._claimed_at = -CLAIM_S

    def begin(self, work: Work) -> int:
        """Work started; returns its handle for `end` or `change`."""
        handle = next(self._ids)
        self._running[handle] = (work, self._clock())
        return handle

    def change(self, handle: int, work: Work) -> None:
        """The work became another kind (a reply's first output arrived); its age is kept."""
        if handle in self._running:
            self._running[handle] = (work, self._running[handle][1])

    def end(self, handle: int) -> None:
        """The work is over (done, failed or abandoned)."""
        self._running.pop(handle, None)

    @contextmanager
    def running(self, work: Work) -> Iterator[int]:
        """`begin` and, however the block ends, `end`."""
        handle = self.begin(work)
        try:
            yield handle
        finally:
            self.end(handle)

    def in_flight(self, work: Work) -> int:
        """How many of one kind are in flight (stale ones not counted)."""
        oldest = self._clock() - STALE_S
        return sum(1 for kind, at in self._running.values() if kind is work and at >= oldest)

    def partial_welcome(self) -> bool:
        """Whether a partial pass may go out now; a yes claims the slot for `CLAIM_S`.

        The claim keeps several calls from all hearing yes before the first pass is in flight.
        """
        now = self._clock()
        idle = (
            now - self._claimed_at >= CLAIM_S
            and self.in_flight(Work.WAITED_FOR) == 0
            and self.in_flight(Work.PARTIAL) == 0
            and self.in_flight(Work.STREAMING) <= MAX_STREAMING
        )
        if idle:
            self._claimed_at = now
        return idle


@runtime_checkable
class LoadAware(Protocol):
    """A transcriber that knows whether the model plane has room for a partial pass."""

    def partial_welcome(self) -> bool:
        """Whether a partial pass may go out now."""
        ...


def partial_welcome(transcriber: object) -> bool:
    """Whether `transcriber` takes a partial pass now (always, for one that tracks no load)."""
    return transcriber.partial_welcome() if isinstance(transcriber, LoadAware) else True
