"""The model plane's request limits as pure logic: bodies, JSON, request shapes, refusals, time."""

from __future__ import annotations

import asyncio
import json
import pickle
from collections.abc import MutableMapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import BaseModel
from ray.exceptions import RayTaskError
from starlette.requests import Request

from switchboard_api.knowledgebase import EmbeddingSpec
from switchboard_api.serving import EmbedDeployment
from switchboard_serve.api_models import ChatRequest, EmbeddingRequest, SpeechRequest, validated
from switchboard_serve.deployments import EmbedServer
from switchboard_serve.limits import (
    CHAT_MAX_MESSAGES,
    CHAT_MAX_TOOLS,
    EMBED_MAX_TOKENS,
    ApiError,
    asr_body_limit,
    first_and_rest,
    parse_json,
    read_body,
    refusal,
    replay,
)

pytestmark = pytest.mark.unit


def _request(
    chunks: list[bytes], headers: dict[str, str] | None = None
) -> tuple[Request, list[int]]:
    """A request whose body arrives in `chunks`; the list counts the chunks handed out."""
    handed = [0]

    async def receive() -> MutableMapping[str, Any]:
        index = handed[0]
        handed[0] += 1
        more = index < len(chunks) - 1
        return {"type": "http.request", "body": chunks[index] if chunks else b"", "more_body": more}

    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": raw}
    return Request(scope, receive), handed


def _refused(error: pytest.ExceptionInfo[ApiError], status: int, code: str) -> None:
    assert (error.value.status, error.value.code) == (status, code), error.value


def test_a_content_length_over_the_limit_is_refused_before_any_byte_is_read() -> None:
    request, handed = _request([b"x" * 10], {"content-length": str(10**9)})
    with pytest.raises(ApiError) as error:
        asyncio.run(read_body(request, 1000))
    _refused(error, 413, "request_too_large")
    assert handed == [0]


def test_a_body_without_a_length_is_refused_once_the_bytes_read_pass_the_limit() -> None:
    request, handed = _request([b"x" * 400] * 100)
    with pytest.raises(ApiError) as error:
        asyncio.run(read_body(request, 1000))
    _refused(error, 413, "request_too_large")
    assert handed[0] == 3, "reading stopped at the chunk that passed the limit"


def test_a_body_that_lies_about_its_length_is_still_counted() -> None:
    request, _ = _request([b"x" * 600, b"x" * 600], {"content-length": "10"})
    with pytest.raises(ApiError) as error:
        asyncio.run(read_body(request, 1000))
    _refused(error, 413, "request_too_large")


def test_a_content_length_that_is_not_a_number_is_a_400() -> None:
    request, _ = _request([b"{}"], {"content-length": "-5"})
    with pytest.raises(ApiError) as error:
        asyncio.run(read_body(request, 1000))
    _refused(error, 400, "invalid_content_length")


def test_a_body_within_the_limit_is_read_whole_and_can_be_replayed() -> None:
    request, _ = _request([b'{"a":', b" 1}"], {"content-length": "8"})

    async def read_twice() -> tuple[bytes, bytes]:
        body = await read_body(request, 1000)
        return body, await replay(request, body).body()

    assert asyncio.run(read_twice()) == (b'{"a": 1}', b'{"a": 1}')


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty_body"),
        (b"  \n", "empty_body"),
        (b'{"messages": [}', "invalid_json"),
        (b"\xff\xfe{}", "invalid_json"),
        (b"[" * 100_000, "invalid_json"),
        (b'{"n": ' + b"9" * 5000 + b"}", "invalid_json"),
        (b'{"input": "\\ud800"}', "invalid_text"),
        (b'{"input": ["ok", {"deep": "\\udfff"}]}', "invalid_text"),
    ],
    ids=["empty", "blank", "malformed", "not-utf8", "deep", "huge-int", "surrogate", "nested-sur"],
)
def test_a_body_that_is_not_usable_json_is_a_400_naming_why(raw: bytes, code: str) -> None:
    with pytest.raises(ApiError) as error:
        parse_json(raw)
    _refused(error, 400, code)


def test_a_surrogate_pair_is_a_character_and_parses() -> None:
    assert parse_json(b'{"input": "\\ud83d\\ude00"}') == {"input": "\U0001f600"}


def _chat(**extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "hi"}], **extra}


@pytest.mark.parametrize(
    ("document", "param"),
    [
        (_chat(max_tokens=100_000), "max_tokens"),
        (_chat(max_tokens=0), "max_tokens"),
        (_chat(temperature=float("nan")), "temperature"),
        (_chat(temperature=float("inf")), "temperature"),
        ({"messages": [{"role": "user", "content": "x"}] * (CHAT_MAX_MESSAGES + 1)}, "messages"),
        (
            _chat(tools=[{"function": {"name": f"t{i}"}} for i in range(CHAT_MAX_TOOLS + 1)]),
            "tools",
        ),
        ({"messages": "hello"}, "messages"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{"}}],
                    }
                ]
            },
            "messages.0.tool_calls.0.function.arguments",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "[]"}}],
                    }
                ]
            },
            "messages.0.tool_calls.0.function.arguments",
        ),
    ],
    ids=[
        "max-tokens-huge",
        "max-tokens-zero",
        "nan",
        "inf",
        "too-many-messages",
        "too-many-tools",
        "messages-string",
        "arguments-malformed",
        "arguments-array",
    ],
)
def test_a_chat_request_outside_its_bounds_is_a_400_naming_the_field(
    document: dict[str, Any], param: str
) -> None:
    with pytest.raises(ApiError) as error:
        validated(ChatRequest, document)
    _refused(error, 400, "invalid_request")
    assert error.value.param == param


def test_a_valid_chat_request_keeps_tool_calls_and_drops_unknown_fields() -> None:
    call = {"id": "c1", "function": {"name": "f", "arguments": '{"a": 1}'}}
    message = {"role": "assistant", "tool_calls": [call], "audio": {"id": "x"}}
    chat = validated(ChatRequest, {"messages": [message]})
    dumped = chat.messages[0].model_dump(exclude_none=True)
    assert dumped["tool_calls"][0]["function"]["arguments"] == '{"a": 1}'
    assert "audio" not in dumped


def test_speech_and_embedding_requests_refuse_wrong_types() -> None:
    cases: list[tuple[type[BaseModel], object]] = [
        (SpeechRequest, {"input": ["a"]}),
        (SpeechRequest, {"input": "a", "sample_rate": "fast"}),
        (EmbeddingRequest, {"input": [[1, 2]]}),
        (EmbeddingRequest, {"input": "a", "encoding_format": "int8"}),
        (EmbeddingRequest, json.loads('{"input": NaN}')),
    ]
    for model, document in cases:
        with pytest.raises(ApiError) as error:
            validated(model, document)
        _refused(error, 400, "invalid_request")


def test_an_api_error_survives_pickling_and_renders_openai_style() -> None:
    original = ApiError(413, "too big", "request_too_large", "input")
    copy = pickle.loads(pickle.dumps(original))  # noqa: S301 - our own bytes, as Ray does
    assert (copy.status, str(copy), copy.code, copy.param) == (
        413,
        "too big",
        "request_too_large",
        "input",
    )
    assert copy.body() == {
        "error": {
            "message": "too big",
            "type": "invalid_request_error",
            "param": "input",
            "code": "request_too_large",
        }
    }
    assert ApiError(504, "late", "timeout").body()["error"]["type"] == "server_error"


def test_a_replica_refusal_is_found_inside_the_error_ray_raises_for_it() -> None:
    original = ApiError(400, "prompt too long", "context_length_exceeded", "messages")
    wrapped = RayTaskError("stream_chat", "Traceback ...", original)
    dual = wrapped.as_instanceof_cause()
    for error in (wrapped, dual):
        found = refusal(error)
        assert found is not None
        assert (str(found), found.code) == ("prompt too long", "context_length_exceeded")
    assert refusal(RayTaskError("f", "tb", RuntimeError("engine crashed"))) is None
    assert refusal(ValueError("ours")) is None


def test_the_asr_body_limit_allows_the_longest_utterance_at_48_khz() -> None:
    assert asr_body_limit(30) == 30 * 48_000 * 2 + 64 * 1024
    assert asr_body_limit(120) > asr_body_limit(30)


class _Stream:
    """A response stream whose items come after given delays; records a cancel."""

    def __init__(self, delays: list[float]) -> None:
        self._delays = list(delays)
        self.cancelled = False

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> int:
        if not self._delays:
            raise StopAsyncIteration
        await asyncio.sleep(self._delays.pop(0))
        return len(self._delays)

    def cancel(self) -> None:
        self.cancelled = True


def _drain(delays: list[float], limit_s: float) -> tuple[list[int], _Stream]:
    stream = _Stream(delays)

    async def run() -> list[int]:
        deadline = asyncio.get_running_loop().time() + limit_s
        _, rest = await first_and_rest(stream, deadline)
        return [item async for item in rest]

    return asyncio.run(run()), stream


def test_a_stream_within_its_time_limit_yields_every_item_once() -> None:
    items, stream = _drain([0, 0, 0], 5)
    assert items == [2, 1, 0]
    assert not stream.cancelled


def test_a_stream_whose_first_item_is_late_times_out_and_is_cancelled() -> None:
    with pytest.raises(TimeoutError):
        _drain([1.0], 0.05)


def test_a_stream_that_runs_past_its_limit_midway_is_cancelled() -> None:
    stream = _Stream([0, 0, 1.0])
    seen: list[int] = []

    async def run() -> None:
        deadline = asyncio.get_running_loop().time() + 0.1
        _, rest = await first_and_rest(stream, deadline)
        async for item in rest:
            seen.append(item)

    with pytest.raises(TimeoutError):
        asyncio.run(run())
    assert seen == [2, 1]
    assert stream.cancelled


class _CountingEmbedder:
    """Counts word pieces like a wide-window model; fails the test if asked to embed."""

    dimensions = 4
    max_tokens = 8192
    embedded = False

    def count_tokens(self, texts: Sequence[str]) -> int:
        return sum(len(text.split()) for text in texts)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.embedded = True
        return np.zeros((len(texts), 4), np.float32)


def _embed_server(engine: _CountingEmbedder) -> EmbedServer:
    server = object.__new__(EmbedServer)
    server.config = EmbedDeployment(name="embed", spec=EmbeddingSpec())
    server._engine = engine
    return server


def test_an_embedding_request_over_the_token_budget_never_reaches_the_model() -> None:
    engine = _CountingEmbedder()
    texts = ["w " * 2000] * ((EMBED_MAX_TOKENS // 2000) + 1)
    with pytest.raises(ApiError) as error:
        asyncio.run(_embed_server(engine).embed(texts))
    _refused(error, 413, "too_many_tokens")
    assert not engine.embedded
    result = asyncio.run(_embed_server(engine).embed(["a few words"]))
    assert result["tokens"] == 3
    assert engine.embedded


@pytest.mark.parametrize(
    ("texts", "code"),
    [([], "empty_input"), (["ok", "  "], "empty_input"), (["x"] * 65, "too_many_inputs")],
)
def test_the_embedding_server_refuses_what_the_ingress_would(texts: list[str], code: str) -> None:
    with pytest.raises(ApiError) as error:
        asyncio.run(_embed_server(_CountingEmbedder()).embed(texts))
    assert error.value.code == code
