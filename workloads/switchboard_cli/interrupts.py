"""Ctrl-C and SIGTERM during `switchboard up`: stop at a point where stopping is safe.

A `KeyboardInterrupt` raised inside `ray.init` or while Serve deploys leaves Ray half started,
and stopping a half-started Ray is what used to start a second one. Inside `deferred()` a
signal is only noted; the interrupt is raised when the block ends (or when the block asks).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """SIGTERM stops `up` the way Ctrl-C does (by default it would kill it with Ray running)."""
    for number in _STOP_SIGNALS:
        signal.signal(number, _interrupt)


@contextmanager
def deferred() -> Iterator[Callable[[], bool]]:
    """Note stop signals instead of interrupting; yields "was one received?".

    On leaving the block normally, a noted signal raises `KeyboardInterrupt`.
    """
    received: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {number: signal.signal(number, note) for number in _STOP_SIGNALS}
    try:
        yield lambda: bool(received)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if received:
        raise KeyboardInterrupt


@contextmanager
def ignored() -> Iterator[None]:
    """Stop signals do nothing in this block (a second Ctrl-C while stopping)."""
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in _STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
