"""Running blocking engine iterators off the event loop, with back-pressure and cancellation."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


async def iterate_in_thread(make: Callable[[], Iterator[T]], buffer: int = 8) -> AsyncIterator[T]:
    """Yield the items of a blocking iterator produced in a worker thread.

    When the consumer stops early (barge-in, client gone), the worker stops after its current
    item and closes the iterator, so the engine is released promptly.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=buffer)
    stop = threading.Event()

    def put(item: object) -> None:
        asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def work() -> None:
        iterator = make()
        try:
            for item in iterator:
                if stop.is_set():
                    break
                put(item)
        except BaseException as error:  # re-raised in the consumer
            if not stop.is_set():
                put(error)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
            if not stop.is_set():
                put(_DONE)

    worker = loop.run_in_executor(None, work)
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while not queue.empty():  # unblock a worker waiting on a full queue
            queue.get_nowait()
        if not worker.done():
            await asyncio.wait_for(asyncio.shield(worker), timeout=30)
