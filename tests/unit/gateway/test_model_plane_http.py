"""Retry and parsing rules of the model-plane client, with scripted HTTP responses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from switchboard_gateway.backends.base import BackendError
from switchboard_gateway.backends.model_plane_http import ModelPlaneHttp
from switchboard_wire.chat import ReplyDone, ReplyText
from switchboard_wire.retry import RetryPolicy

pytestmark = pytest.mark.unit


def _plane(handler: Callable[[httpx.Request], httpx.Response]) -> ModelPlaneHttp:
    client = httpx.AsyncClient(base_url="http://plane.test", transport=httpx.MockTransport(handler))
    return ModelPlaneHttp("http://plane.test", client=client, retry=RetryPolicy(backoff_s=0))


def _reply(plane: ModelPlaneHttp) -> list[object]:
    async def collect() -> list[object]:
        return [e async for e in plane.reply([{"role": "user", "content": "hi"}], [])]

    return asyncio.run(collect())


SSE = (
    b'data: {"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
    b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
)


def test_transient_failures_before_any_output_are_retried() -> None:
    statuses = iter([503, 502, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        return httpx.Response(status, content=SSE if status == 200 else b"busy")

    assert _reply(_plane(handler)) == [ReplyText("Hi"), ReplyDone("stop", 1)]


def test_retries_are_bounded_and_client_errors_are_not_retried() -> None:
    calls: list[int] = []

    def always_busy(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, content=b"busy")

    with pytest.raises(BackendError, match="503"):
        _reply(_plane(always_busy))
    assert len(calls) == 3

    calls.clear()

    def bad_request(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, json={"error": {"message": "bad"}})

    with pytest.raises(BackendError, match="400"):
        _reply(_plane(bad_request))
    assert len(calls) == 1


def test_an_unreachable_plane_and_a_malformed_stream_are_backend_errors() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(BackendError, match="unreachable"):
        _reply(_plane(unreachable))
    with pytest.raises(BackendError, match=r"malformed chat stream chunk \(not JSON\)"):
        _reply(_plane(lambda r: httpx.Response(200, content=b"data: {nope\n\n")))


class _BreaksOff(httpx.AsyncByteStream):
    """A body that yields one chunk, then fails as a dropped connection would."""

    def __init__(self, first: bytes) -> None:
        self._first = first

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._first
        raise httpx.ReadError("connection reset")


def test_a_stream_that_breaks_off_midway_is_a_backend_error() -> None:
    first_chunk = SSE.split(b"\n\n")[0] + b"\n\n"
    plane = _plane(lambda r: httpx.Response(200, stream=_BreaksOff(first_chunk)))
    with pytest.raises(BackendError, match="chat stream broke off: ReadError"):
        _reply(plane)

    async def speech() -> list[bytes]:
        speaker = _plane(lambda r: httpx.Response(200, stream=_BreaksOff(b"\x00\x01" * 80)))
        return [chunk async for chunk in speaker.speak("Hello.", 16000)]

    with pytest.raises(BackendError, match="speech stream broke off: ReadError"):
        asyncio.run(speech())
