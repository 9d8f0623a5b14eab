"""The OpenAI-compatible engine's retry and parsing logic, against scripted HTTP responses."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from switchboard_api.common import SecretKeyRef, secret_env_name
from switchboard_api.pipeline import LlmEndpoint, LlmSpec
from switchboard_serve.llm.openai_compatible import OpenAICompatibleEngine, RemoteLlmError
from switchboard_serve.secrets import MissingCredentialError
from switchboard_wire.chat import ReplyDone, ReplyText, ToolRequest
from switchboard_wire.retry import RetryPolicy

pytestmark = pytest.mark.unit

SPEC = LlmSpec(
    provider="openai-compatible", model="m", endpoint=LlmEndpoint(url="http://llm.test/v1")
)


def _sse(*chunks: dict[str, object]) -> bytes:
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


def _delta(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _engine(
    handler: Callable[[httpx.Request], httpx.Response], spec: LlmSpec = SPEC
) -> OpenAICompatibleEngine:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return OpenAICompatibleEngine(spec, client, RetryPolicy(backoff_s=0))


def test_text_streams_and_the_request_is_openai_shaped() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.url == "http://llm.test/v1/chat/completions"
        body = _sse(
            _delta({"role": "assistant"}),
            _delta({"content": "Hel"}),
            _delta({"content": "lo"}, "stop"),
        )
        return httpx.Response(200, content=body)

    events = list(_engine(handler).stream_chat([{"role": "user", "content": "Hi"}], max_tokens=7))
    assert events == [ReplyText("Hel"), ReplyText("lo"), ReplyDone("stop", 2)]
    assert seen[0]["model"] == "m"
    assert seen[0]["stream"] is True
    assert seen[0]["max_tokens"] == 7


def test_tool_call_fragments_are_joined() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        first = {
            "index": 0,
            "id": "c1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"ci'},
        }
        second = {"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}
        body = _sse(_delta({"tool_calls": [first]}), _delta({"tool_calls": [second]}, "tool_calls"))
        return httpx.Response(200, content=body)

    events = list(_engine(handler).stream_chat([{"role": "user", "content": "Weather?"}]))
    assert events[0] == ToolRequest("c1", "get_weather", '{"city": "Oslo"}')
    assert events[-1] == ReplyDone("tool_calls", 0)


def test_transient_failures_before_the_first_token_are_retried() -> None:
    answers = iter(
        [
            httpx.Response(503, text="busy"),
            httpx.Response(429, text="slow down"),
            httpx.Response(200, content=_sse(_delta({"content": "ok"}, "stop"))),
        ]
    )
    events = list(
        _engine(lambda request: next(answers)).stream_chat([{"role": "user", "content": "x"}])
    )
    assert events == [ReplyText("ok"), ReplyDone("stop", 1)]


def test_retries_are_bounded() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(502, text="bad gateway")

    with pytest.raises(RemoteLlmError, match="502"):
        list(_engine(handler).stream_chat([{"role": "user", "content": "x"}]))
    assert len(calls) == 3


def test_a_client_error_is_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, json={"error": {"message": "bad model"}})

    with pytest.raises(RemoteLlmError, match=r"400.*bad model"):
        list(_engine(handler).stream_chat([{"role": "user", "content": "x"}]))
    assert len(calls) == 1


def test_a_connection_failure_after_the_first_token_is_not_retried() -> None:
    calls = []

    class Breaks(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield _sse(_delta({"content": "Hel"}))[: -len(b"data: [DONE]\n\n")]
            raise httpx.ReadError("connection reset")

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, stream=Breaks())

    stream = _engine(handler).stream_chat([{"role": "user", "content": "x"}])
    assert next(stream) == ReplyText("Hel")
    with pytest.raises(RemoteLlmError, match="unreachable"):
        next(stream)
    assert len(calls) == 1, "the caller already heard part of the answer"


def test_a_malformed_chunk_fails_the_request_and_is_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        body = _sse(_delta({"content": "Hel"})).replace(b"data: [DONE]", b"data: {nope")
        return httpx.Response(200, content=body)

    stream = _engine(handler).stream_chat([{"role": "user", "content": "x"}])
    assert next(stream) == ReplyText("Hel")
    with pytest.raises(RemoteLlmError, match=r"malformed chat stream chunk \(not JSON\)"):
        next(stream)
    assert len(calls) == 1


def test_the_api_key_comes_from_the_referenced_secrets_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref = SecretKeyRef(name="provider-keys", key="openai")
    spec = LlmSpec(
        provider="openai-compatible",
        model="m",
        endpoint=LlmEndpoint(url="http://llm.test/v1", api_key_secret_ref=ref),
    )
    assert secret_env_name(ref) == "SWITCHBOARD_SECRET_PROVIDER_KEYS_OPENAI"
    with pytest.raises(MissingCredentialError, match="SWITCHBOARD_SECRET_PROVIDER_KEYS_OPENAI"):
        _engine(lambda r: httpx.Response(200), spec)
    monkeypatch.setenv("SWITCHBOARD_SECRET_PROVIDER_KEYS_OPENAI", "sk-test")
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, content=_sse(_delta({"content": "hi"}, "stop")))

    list(_engine(handler, spec).stream_chat([{"role": "user", "content": "x"}]))
    assert seen == ["Bearer sk-test"]
