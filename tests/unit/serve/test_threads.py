"""Blocking engine iterators consumed from the event loop: order, errors, early stop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from switchboard_serve.threads import iterate_in_thread

pytestmark = pytest.mark.unit


class Source:
    """A blocking iterator that records how far it got and whether it was closed."""

    def __init__(self, items: int, fail_at: int | None = None) -> None:
        self.items, self.fail_at = items, fail_at
        self.produced = 0
        self.closed = threading.Event()
        self.thread: str | None = None

    def __iter__(self) -> Iterator[int]:
        self.thread = threading.current_thread().name
        try:
            for i in range(self.items):
                if i == self.fail_at:
                    raise RuntimeError("engine failed")
                self.produced += 1
                yield i
        finally:
            self.closed.set()


async def _collect(source: Source, limit: int | None = None) -> list[int]:
    out = []
    async for item in iterate_in_thread(lambda: iter(source), buffer=2):
        out.append(item)
        if limit is not None and len(out) == limit:
            break
    return out


def test_items_arrive_in_order_from_another_thread() -> None:
    source = Source(20)
    assert asyncio.run(_collect(source)) == list(range(20))
    assert source.thread != threading.current_thread().name
    assert source.closed.is_set()


def test_an_engine_error_reaches_the_consumer() -> None:
    with pytest.raises(RuntimeError, match="engine failed"):
        asyncio.run(_collect(Source(10, fail_at=3)))


def test_stopping_early_closes_the_engine_iterator_promptly() -> None:
    source = Source(10_000)
    assert asyncio.run(_collect(source, limit=3)) == [0, 1, 2]
    assert source.closed.wait(timeout=5)
    assert source.produced < 20, "the worker stops within a few items (buffer 2)"
