"""The model plane's input limits over real HTTP, against real Ray Serve and the packaged models.

Every engine behind the API is the real one (whisper-base, SmolLM2 on llama.cpp, Piper, MiniLM):
the refusals that only a replica can make (a prompt over the context window, a language whisper
does not know) travel back through Ray as they would in production.
"""

from __future__ import annotations

import io
import json
import time
import wave
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from switchboard_serve.limits import (
    CHAT_BODY_BYTES,
    CHAT_MAX_MESSAGES,
    CHAT_MAX_TOOLS,
    EMBED_MAX_INPUT_CHARACTERS,
    EMBED_MAX_INPUTS,
    SPEECH_BODY_BYTES,
)
from switchboard_wire.audio import encode_wav

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


def _wav(seconds: float, rate: int = 16_000) -> bytes:
    return encode_wav(bytes(2 * int(seconds * rate)), rate)


def _wav_32_bit() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(4)
        writer.setframerate(16_000)
        writer.writeframes(bytes(4 * 1600))
    return buffer.getvalue()


def _chunked(data: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked transfer encoding)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _user(content: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}]}


def _raw(text: str) -> dict[str, Any]:
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


_ONE_SECOND = {"file": ("a.wav", _wav(1.0), "audio/wav")}
_CHAT, _SPEECH, _EMBED = "/v1/chat/completions", "/v1/audio/speech", "/v1/embeddings"
_ASR, _PARTIAL = "/v1/audio/transcriptions", "/v1/audio/transcriptions/partial"
_BAD_SCHEMA = {"type": "object", "properties": {"a": {"$ref": "#/definitions/missing"}}}

#: (case, method, path, request arguments, status, code)
HOSTILE: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    # chat completions
    (
        "chat-body-over-limit",
        "POST",
        _CHAT,
        {"json": _user("x" * CHAT_BODY_BYTES)},
        413,
        "request_too_large",
    ),
    (
        "chat-chunked-over-limit",
        "POST",
        _CHAT,
        {"content": _chunked(json.dumps(_user("y" * CHAT_BODY_BYTES)).encode())},
        413,
        "request_too_large",
    ),
    ("chat-not-utf8", "POST", _CHAT, {"content": b'{"messages": "\xff\xfe"}'}, 400, "invalid_json"),
    ("chat-nested-deep", "POST", _CHAT, {"content": b"[" * 100_000}, 400, "invalid_json"),
    (
        "chat-huge-integer",
        "POST",
        _CHAT,
        _raw('{"messages": [], "max_tokens": ' + "9" * 5000 + "}"),
        400,
        "invalid_json",
    ),
    (
        "chat-lone-surrogate",
        "POST",
        _CHAT,
        _raw('{"messages": [{"role": "user", "content": "\\ud800"}]}'),
        400,
        "invalid_text",
    ),
    (
        "chat-nan-temperature",
        "POST",
        _CHAT,
        _raw('{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}'),
        400,
        "invalid_request",
    ),
    ("chat-array-body", "POST", _CHAT, {"json": [1, 2, 3]}, 400, "invalid_request"),
    ("chat-messages-string", "POST", _CHAT, {"json": {"messages": "hi"}}, 400, "invalid_request"),
    (
        "chat-content-object",
        "POST",
        _CHAT,
        {"json": {"messages": [{"role": "user", "content": {"a": 1}}]}},
        400,
        "invalid_request",
    ),
    (
        "chat-too-many-messages",
        "POST",
        _CHAT,
        {"json": {"messages": [{"role": "user", "content": "x"}] * (CHAT_MAX_MESSAGES + 1)}},
        400,
        "invalid_request",
    ),
    (
        "chat-too-many-tools",
        "POST",
        _CHAT,
        {
            "json": {
                **_user("x"),
                "tools": [{"function": {"name": f"t{i}"}} for i in range(CHAT_MAX_TOOLS + 1)],
            }
        },
        400,
        "invalid_request",
    ),
    (
        "chat-max-tokens-huge",
        "POST",
        _CHAT,
        {"json": {**_user("x"), "max_tokens": 10**6}},
        400,
        "invalid_request",
    ),
    (
        "chat-max-tokens-over-context",
        "POST",
        _CHAT,
        {"json": {**_user("x"), "max_tokens": 4096}},
        400,
        "context_length_exceeded",
    ),
    (
        "chat-prompt-over-context",
        "POST",
        _CHAT,
        {"json": _user("pineapple " * 20_000)},
        400,
        "context_length_exceeded",
    ),
    (
        "chat-tool-arguments-not-json",
        "POST",
        _CHAT,
        {
            "json": {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c1", "function": {"name": "f", "arguments": "{oops"}}
                        ],
                    }
                ]
            }
        },
        400,
        "invalid_request",
    ),
    (
        "chat-tool-schema-unusable",
        "POST",
        _CHAT,
        {"json": {**_user("x"), "tools": [{"function": {"name": "f", "parameters": _BAD_SCHEMA}}]}},
        400,
        "invalid_tools",
    ),
    # speech
    (
        "speech-body-over-limit",
        "POST",
        _SPEECH,
        {"json": {"input": "z" * SPEECH_BODY_BYTES}},
        413,
        "request_too_large",
    ),
    ("speech-blank-input", "POST", _SPEECH, {"json": {"input": " \n\t "}}, 400, "empty_input"),
    (
        "speech-lone-surrogate",
        "POST",
        _SPEECH,
        _raw('{"input": "Hi \\udc00 there."}'),
        400,
        "invalid_text",
    ),
    ("speech-input-list", "POST", _SPEECH, {"json": {"input": ["Hello."]}}, 400, "invalid_request"),
    (
        "speech-rate-string",
        "POST",
        _SPEECH,
        {"json": {"input": "Hi.", "sample_rate": "fast"}},
        400,
        "invalid_request",
    ),
    (
        "speech-unknown-voice",
        "POST",
        _SPEECH,
        {"json": {"input": "Hi.", "voice": "nobody"}},
        404,
        "model_not_found",
    ),
    # embeddings
    (
        "embed-too-many-inputs",
        "POST",
        _EMBED,
        {"json": {"input": ["x"] * (EMBED_MAX_INPUTS + 1)}},
        400,
        "too_many_inputs",
    ),
    (
        "embed-input-too-long",
        "POST",
        _EMBED,
        {"json": {"input": "a" * (EMBED_MAX_INPUT_CHARACTERS + 1)}},
        400,
        "input_too_long",
    ),
    ("embed-nan-input", "POST", _EMBED, _raw('{"input": NaN}'), 400, "invalid_request"),
    (
        "embed-lone-surrogate",
        "POST",
        _EMBED,
        _raw('{"input": ["ok", "\\ud801"]}'),
        400,
        "invalid_text",
    ),
    (
        "embed-int8-format",
        "POST",
        _EMBED,
        {"json": {"input": "x", "encoding_format": "int8"}},
        400,
        "invalid_request",
    ),
    ("embed-null-body", "POST", _EMBED, _raw("null"), 400, "invalid_request"),
    # transcription
    (
        "asr-body-over-limit",
        "POST",
        _ASR,
        {"files": {"file": ("a.wav", _wav(45.0, 48_000), "audio/wav")}},
        413,
        "request_too_large",
    ),
    (
        "asr-32-bit-wav",
        "POST",
        _ASR,
        {"files": {"file": ("a.wav", _wav_32_bit(), "audio/wav")}},
        400,
        "invalid_audio",
    ),
    (
        "asr-language-path",
        "POST",
        _ASR,
        {"files": _ONE_SECOND, "data": {"language": "../etc"}},
        400,
        "invalid_language",
    ),
    (
        "asr-language-unknown",
        "POST",
        _ASR,
        {"files": _ONE_SECOND, "data": {"language": "zz"}},
        400,
        "unsupported_language",
    ),
    (
        "asr-too-many-fields",
        "POST",
        _ASR,
        {"files": _ONE_SECOND, "data": {f"f{i}": "x" for i in range(20)}},
        400,
        "invalid_form",
    ),
    (
        "asr-bad-boundary",
        "POST",
        _ASR,
        {
            "content": b"--zz\r\ngarbage",
            "headers": {"content-type": "multipart/form-data; boundary=q"},
        },
        400,
        "invalid_form",
    ),
    (
        "partial-state-over-limit",
        "POST",
        _PARTIAL,
        {"files": _ONE_SECOND, "data": {"state": "{" * 100_000}},
        400,
        "invalid_form",
    ),
    # anywhere
    ("unknown-path", "POST", "/v1/completions", {"json": {}}, 404, "not_found"),
    ("wrong-method", "GET", _EMBED, {}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(
    ("case", "method", "path", "request_kwargs", "status", "code"),
    HOSTILE,
    ids=[h[0] for h in HOSTILE],
)
def test_a_hostile_request_gets_an_openai_style_4xx_and_the_replicas_keep_serving(
    http: httpx.Client,
    case: str,
    method: str,
    path: str,
    request_kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = http.request(method, path, **request_kwargs)
    assert response.status_code == status, (case, response.text[:500])
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    healthy = http.post(_EMBED, json={"input": "Still here."})
    assert healthy.status_code == 200, healthy.text


def test_the_hostile_matrix_covers_every_endpoint_with_at_least_thirty_requests() -> None:
    assert len(HOSTILE) >= 30
    assert {h[2] for h in HOSTILE} >= {_CHAT, _SPEECH, _EMBED, _ASR, _PARTIAL}


def test_a_16_mb_embeddings_request_is_refused_in_well_under_a_second(
    http: httpx.Client,
) -> None:
    body = json.dumps({"input": ["lorem ipsum dolor sit amet " * 300] * 2048}).encode()
    assert len(body) > 16_000_000
    started = time.perf_counter()
    response = http.post(_EMBED, content=body, headers={"content-type": "application/json"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 413, response.text[:300]
    assert response.json()["error"]["code"] == "request_too_large"
    assert elapsed < 0.5, f"refused after {elapsed:.2f} s"
    speech = http.post(_SPEECH, json={"input": "Still here.", "response_format": "wav"})
    assert speech.status_code == 200


def test_a_request_at_the_limits_is_served(http: httpx.Client) -> None:
    texts = [f"question number {i} about opening hours" for i in range(EMBED_MAX_INPUTS)]
    response = http.post(_EMBED, json={"input": texts})
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["data"]) == EMBED_MAX_INPUTS
    chat = http.post(_CHAT, json={**_user("Say hi."), "max_tokens": 8})
    assert chat.status_code == 200, chat.text[:300]
    assert chat.json()["choices"][0]["finish_reason"] in ("stop", "length")
