"""Partial passes go out only when the model plane is idle enough; the client tracks its work."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from switchboard_gateway.backends.model_load import (
    CLAIM_S,
    STALE_S,
    ModelLoad,
    Work,
    partial_welcome,
)
from switchboard_gateway.backends.model_plane_http import ModelPlaneHttp
from switchboard_gateway.backends.phrase_cache import PhraseCache, PhraseCachingBackend
from switchboard_wire.retry import RetryPolicy

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_idle_plane_welcomes_one_partial_pass_and_claims_the_slot_for_it() -> None:
    clock = Clock()
    load = ModelLoad(clock)

    assert load.partial_welcome()
    assert not load.partial_welcome(), "a second call heard yes before the first pass left"
    clock.now += CLAIM_S
    assert load.partial_welcome()


@pytest.mark.parametrize("work", [Work.WAITED_FOR, Work.PARTIAL])
def test_work_a_caller_waits_for_or_another_partial_pass_defers_partial_passes(
    work: Work,
) -> None:
    clock = Clock()
    load = ModelLoad(clock)

    with load.running(work):
        assert not load.partial_welcome()
    assert load.partial_welcome()


def test_one_streaming_reply_leaves_room_for_a_partial_pass_and_two_do_not() -> None:
    clock = Clock()
    load = ModelLoad(clock)
    first = load.begin(Work.WAITED_FOR)
    load.change(first, Work.STREAMING)

    assert load.partial_welcome()

    load.begin(Work.STREAMING)
    clock.now += CLAIM_S
    assert not load.partial_welcome()


def test_work_never_ended_is_forgotten_once_stale() -> None:
    clock = Clock()
    load = ModelLoad(clock)
    load.begin(Work.WAITED_FOR)  # a stream whose consumer vanished

    assert not load.partial_welcome()
    clock.now += STALE_S + 1
    assert load.partial_welcome()


def test_a_transcriber_that_tracks_no_load_always_takes_partial_passes() -> None:
    assert partial_welcome(object())


SSE = (
    b'data: {"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
    b'data: {"choices":[{"delta":{"content":" there"},"finish_reason":null}]}\n\n'
    b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
)


def test_the_client_counts_final_passes_first_tokens_and_streams_in_flight() -> None:
    load = ModelLoad(Clock())
    seen: list[tuple[str, int, int, int]] = []

    def snapshot(label: str) -> None:
        waited, streaming = load.in_flight(Work.WAITED_FOR), load.in_flight(Work.STREAMING)
        seen.append((label, waited, streaming, load.in_flight(Work.PARTIAL)))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/chat/completions"):
            snapshot("chat requested")
            return httpx.Response(200, content=SSE)
        snapshot("final" if b'name="final"\r\n\r\ntrue' in request.content else "partial")
        body = {"text": "hi", "stable": "hi", "final": True, "state": "{}", "unstable": ""}
        return httpx.Response(200, content=json.dumps(body).encode())

    client = httpx.AsyncClient(base_url="http://plane.test", transport=httpx.MockTransport(handler))
    plane = ModelPlaneHttp(
        "http://plane.test", client=client, retry=RetryPolicy(backoff_s=0), load=load
    )
    backend = PhraseCachingBackend(plane, PhraseCache())

    async def call() -> None:
        await backend.transcribe(b"\0\0" * 160, 16000, None, final=False)
        await backend.transcribe(b"\0\0" * 160, 16000, None, final=True)
        replies = plane.reply([{"role": "user", "content": "hi"}], [])
        await anext(replies)
        snapshot("first token")
        await replies.aclose()  # barge-in: the reply is abandoned
        snapshot("abandoned")

    asyncio.run(call())

    assert seen == [
        ("partial", 0, 0, 1),
        ("final", 1, 0, 0),
        ("chat requested", 1, 0, 0),
        ("first token", 0, 1, 0),
        ("abandoned", 0, 0, 0),
    ]
    assert backend.partial_welcome()
