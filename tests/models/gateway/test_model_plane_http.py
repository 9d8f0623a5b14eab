"""The gateway's HTTP client of the model plane, against the real Serve app."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import TypeVar

import pytest

from switchboard_gateway.backends.base import BackendError
from switchboard_gateway.backends.model_plane_http import ModelPlaneHttp
from switchboard_serve.evaluation import word_error_rate
from switchboard_wire.chat import ReplyDone, ReplyText, ToolRequest

pytestmark = pytest.mark.models

T = TypeVar("T")
TEXT = "Could I book an appointment for next Tuesday? Parking is free behind the building."


async def _all(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]


def test_speech_streams_and_transcribes_back_through_partial_passes(base_url: str) -> None:
    async def scenario() -> tuple[list[bytes], list[str], str]:
        plane = ModelPlaneHttp(base_url, timeout_s=60)
        try:
            chunks = await _all(plane.speak(TEXT, 16_000))
            pcm = b"".join(chunks)
            state, stables = None, []
            step = 16_000 * 2  # one second of PCM16
            for end in range(step, len(pcm), step):
                partial = await plane.transcribe(pcm[:end], 16_000, state, final=False)
                state = partial.state
                stables.append(partial.stable)
            final = await plane.transcribe(pcm, 16_000, state, final=True)
            assert final.final
            return chunks, stables, final.text
        finally:
            await plane.aclose()

    chunks, stables, text = asyncio.run(scenario())
    assert all(len(c) % 2 == 0 for c in chunks)
    assert sum(len(c) for c in chunks) / 2 / 16_000 > 3
    assert all(b.startswith(a) for a, b in itertools.pairwise(stables))
    assert word_error_rate([(TEXT, text)]) <= 0.15, text


def test_replies_stream_text_and_tool_requests(base_url: str) -> None:
    weather = {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }

    async def scenario() -> tuple[list[object], list[object]]:
        plane = ModelPlaneHttp(base_url, timeout_s=60)
        try:
            chat = await _all(plane.reply([{"role": "user", "content": "Say hello to me."}], []))
            question = [{"role": "user", "content": "What is the weather in Paris?"}]
            tool = await _all(plane.reply(question, [weather]))
            return list(chat), list(tool)
        finally:
            await plane.aclose()

    chat, tool = asyncio.run(scenario())
    assert sum(isinstance(e, ReplyText) for e in chat) >= 3
    assert isinstance(chat[-1], ReplyDone)
    request = next(e for e in tool if isinstance(e, ToolRequest))
    assert request.name == "get_weather"
    assert "paris" in json.loads(request.arguments)["city"].lower()
    assert isinstance(tool[-1], ReplyDone)
    assert tool[-1].reason == "tool_calls"


def test_an_unknown_model_is_a_backend_error_naming_the_status(base_url: str) -> None:
    async def scenario() -> None:
        plane = ModelPlaneHttp(base_url, tts="no-such-voice")
        try:
            await _all(plane.speak("Hello.", 16_000))
        finally:
            await plane.aclose()

    with pytest.raises(BackendError, match="404"):
        asyncio.run(scenario())
