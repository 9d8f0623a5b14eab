"""Streamed reply text coalesced: the first piece at once, later ones gathered briefly, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from switchboard_serve.llm.coalesce import coalesced
from switchboard_wire.chat import ReplyDone, ReplyEvent, ReplyText, ToolRequest

pytestmark = pytest.mark.unit


async def timed(plan: Sequence[tuple[float, ReplyEvent]]) -> AsyncIterator[ReplyEvent]:
    """Each event after its delay (seconds since the previous one)."""
    for delay, event in plan:
        await asyncio.sleep(delay)
        yield event


def received(
    plan: Sequence[tuple[float, ReplyEvent]], window_s: float
) -> list[tuple[float, ReplyEvent]]:
    async def collect() -> list[tuple[float, ReplyEvent]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        return [(loop.time() - start, e) async for e in coalesced(timed(plan), window_s)]

    return asyncio.run(collect())


def test_the_first_text_leaves_at_once_and_later_tokens_leave_together() -> None:
    plan: list[tuple[float, ReplyEvent]] = [(0.05, ReplyText("We"))]
    plan += [(0.005, ReplyText(t)) for t in ("'re", " open", " on", " Saturday", ",")]
    plan += [(0.0, ReplyDone("stop"))]

    events = received(plan, window_s=0.2)

    first_at, first = events[0]
    assert first == ReplyText("We")
    assert first_at < 0.1, "not held back"
    assert [e for _, e in events[1:]] == [ReplyText("'re open on Saturday,"), ReplyDone("stop")]


def test_no_text_waits_longer_than_the_window() -> None:
    plan: list[tuple[float, ReplyEvent]] = [(0.0, ReplyText("A"))]
    plan += [(0.03, ReplyText(str(n))) for n in range(8)]
    plan += [(0.0, ReplyDone("stop"))]

    events = received(plan, window_s=0.08)

    texts = [e.text for _, e in events if isinstance(e, ReplyText)]
    assert "".join(texts) == "A01234567", "every token, in order"
    assert 3 <= len(texts) <= 8, "joined a few at a time, not all at the end"


def test_a_tool_request_flushes_the_text_before_it_and_keeps_its_place() -> None:
    call = ToolRequest("c1", "lookup", "{}")
    plan: list[tuple[float, ReplyEvent]] = [
        (0.0, ReplyText("One")),
        (0.0, ReplyText(" moment")),
        (0.0, call),
        (0.0, ReplyText(" please")),
        (0.0, ReplyDone("tool_calls")),
    ]

    events = [e for _, e in received(plan, window_s=1.0)]

    assert events == [
        ReplyText("One"),
        ReplyText(" moment"),
        call,
        ReplyText(" please"),
        ReplyDone("tool_calls"),
    ]


def test_an_engine_failure_reaches_the_consumer_after_what_came_before() -> None:
    async def failing() -> AsyncIterator[ReplyEvent]:
        yield ReplyText("Hel")
        raise RuntimeError("engine gone")

    out: list[ReplyEvent] = []

    async def collect() -> None:
        async for event in coalesced(failing(), 0.01):
            out.append(event)

    with pytest.raises(RuntimeError, match="engine gone"):
        asyncio.run(collect())
    assert out == [ReplyText("Hel")]


def test_a_consumer_that_stops_early_closes_the_engine_stream() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[ReplyEvent]:
        try:
            while True:
                await asyncio.sleep(0.001)
                yield ReplyText("x")
        finally:
            closed.set()

    async def take_two() -> bool:
        stream = coalesced(endless(), 0.01)
        async for _ in stream:
            break
        await stream.aclose()
        return closed.is_set()

    assert asyncio.run(take_two())


def test_text_with_a_break_in_it_leaves_at_once() -> None:
    plan: list[tuple[float, ReplyEvent]] = [(0.0, ReplyText("We"))]
    plan += [(0.005, ReplyText(t)) for t in ("'re", " open", " Saturday", ",")]
    plan += [(0.15, ReplyText(" nine")), (0.0, ReplyDone("stop"))]

    events = received(plan, window_s=0.5)

    texts = [(at, e.text) for at, e in events if isinstance(e, ReplyText)]
    assert [text for _, text in texts] == ["We", "'re open Saturday,", " nine"]
    comma_at = texts[1][0]
    assert comma_at < 0.1, f"the piece ending at the comma waited for the window: {comma_at:.3f} s"
