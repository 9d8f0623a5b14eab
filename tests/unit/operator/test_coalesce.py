from __future__ import annotations

import asyncio

import pytest

from switchboard_operator.coalesce import Coalescer

pytestmark = pytest.mark.unit


def test_callers_queued_behind_a_run_share_the_next_one_and_none_is_missed() -> None:
    async def scenario() -> tuple[list[int], int]:
        coalescer: Coalescer[int] = Coalescer()
        counter = 0
        gate = asyncio.Event()

        async def work() -> int:
            nonlocal counter
            counter += 1
            seen = counter
            await gate.wait()
            return seen

        first = asyncio.create_task(coalescer.run("ns", work))
        await asyncio.sleep(0)
        later = [asyncio.create_task(coalescer.run("ns", work)) for _ in range(20)]
        await asyncio.sleep(0)
        gate.set()
        results = [await first, *[await t for t in later]]
        return results, coalescer.runs

    results, runs = asyncio.run(scenario())
    assert results[0] == 1
    assert set(results[1:]) == {2}  # all started after run 1 began, so they need run 2, shared
    assert runs == 2
