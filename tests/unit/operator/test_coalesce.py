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


def test_an_exclusive_section_waits_for_the_run_in_progress_and_holds_off_the_next() -> None:
    async def scenario() -> list[str]:
        coalescer: Coalescer[None] = Coalescer()
        order: list[str] = []
        gate = asyncio.Event()

        async def work(name: str) -> None:
            order.append(f"{name} starts")
            await gate.wait()
            order.append(f"{name} ends")

        running = asyncio.create_task(coalescer.run("ns", lambda: work("apply")))
        await asyncio.sleep(0)

        async def retire() -> None:
            async with coalescer.exclusive("ns"):
                order.append("retire")
                await asyncio.sleep(0)
                later = asyncio.create_task(coalescer.run("ns", lambda: work("late apply")))
                await asyncio.sleep(0)
                order.append("retired")
            await later

        retiring = asyncio.create_task(retire())
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(running, retiring)
        return order

    assert asyncio.run(scenario()) == [
        "apply starts",
        "apply ends",
        "retire",
        "retired",
        "late apply starts",
        "late apply ends",
    ]
