"""The model plane on real Ray Serve, over its OpenAI-compatible HTTP surface."""

from __future__ import annotations

import base64
import io
import itertools
import json
import time
import wave
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from ray import serve

from switchboard_api.pipeline import LlmEndpoint, LlmSpec
from switchboard_serve.evaluation import word_error_rate
from switchboard_serve.llm.base import ToolDefinition
from switchboard_serve.llm.openai_compatible import OpenAICompatibleEngine
from switchboard_wire.audio import encode_wav, float_to_pcm16, mulaw_decode
from switchboard_wire.chat import ChatMessage, ReplyDone, ReplyText, ToolRequest
from tests.models.serve.test_round_trip import SENTENCES

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


def _speech_wav(http: httpx.Client, text: str, rate: int = 16_000) -> bytes:
    response = http.post(
        "/v1/audio/speech", json={"input": text, "response_format": "wav", "sample_rate": rate}
    )
    assert response.status_code == 200, response.text
    return response.content


def test_two_agents_with_the_same_models_run_one_deployment_per_model(base_url: str) -> None:
    deployments = serve.status().applications["models"].deployments
    assert len(deployments) == 5, sorted(deployments)  # asr, llm, tts, embed, ingress
    assert all(d.status == "HEALTHY" for d in deployments.values())


def test_speech_round_trips_through_transcription_with_low_wer(http: httpx.Client) -> None:
    pairs = []
    for sentence in SENTENCES:
        wav = _speech_wav(http, sentence)
        response = http.post(
            "/v1/audio/transcriptions",
            files={"file": ("utterance.wav", wav, "audio/wav")},
            data={"model": "whisper-base", "response_format": "verbose_json"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["language"] == "en"
        assert body["words"]
        pairs.append((sentence, body["text"]))
    assert word_error_rate(pairs) <= 0.15, pairs


def test_partial_transcripts_of_a_growing_buffer_converge_on_the_words(
    http: httpx.Client,
) -> None:
    text = " ".join(SENTENCES[:2])
    with wave.open(io.BytesIO(_speech_wav(http, text))) as reader:
        pcm = reader.readframes(reader.getnframes())
    samples = (np.frombuffer(pcm, "<i2") / 32768).astype(np.float32)
    state: str | None = None
    stables: list[str] = []
    stable_seconds: list[float] = []
    step = 16_000
    ends = [*range(step, samples.size, step), samples.size]
    for i, end in enumerate(ends):
        final = i == len(ends) - 1
        data = {"final": "true" if final else "false", **({"state": state} if state else {})}
        response = http.post(
            "/v1/audio/transcriptions/partial",
            files={
                "file": (
                    "so-far.wav",
                    encode_wav(float_to_pcm16(samples[:end]), 16_000),
                    "audio/wav",
                )
            },
            data=data,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        state = body["state"]
        stables.append(body["stable"])
        stable_seconds.append(json.loads(state)["stable_until"])
    # Stable words never change between partial passes. The final pass decodes the whole
    # utterance again (more accurate than the tail: asr/partial.py) and may correct them.
    for earlier, later in itertools.pairwise(stables[:-1]):
        assert later.startswith(earlier), (earlier, later)
    assert max(stable_seconds[:-1]) > 0, "passes agreed on words before the end of speech"
    assert body["final"]
    assert word_error_rate([(text, body["text"])]) <= 0.15, body["text"]
    stale = http.post(
        "/v1/audio/transcriptions/partial",
        files={
            "file": ("short.wav", encode_wav(float_to_pcm16(samples[:step]), 16_000), "audio/wav")
        },
        data={"state": state},
    )
    assert stale.status_code == 400
    assert stale.json()["error"]["code"] == "invalid_state"


def _sse_events(response: httpx.Response) -> list[Any]:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line.removeprefix("data: ")
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def test_chat_completions_stream_over_sse(http: httpx.Client) -> None:
    request = {"messages": [{"role": "user", "content": "Say hello to me."}], "stream": True}
    with http.stream("POST", "/v1/chat/completions", json=request) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    contents = [
        c["choices"][0]["delta"]["content"] for c in chunks if "content" in c["choices"][0]["delta"]
    ]
    assert len(contents) >= 3
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


def test_a_weather_question_with_a_weather_tool_yields_a_valid_tool_call(
    http: httpx.Client,
) -> None:
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    request = {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the weather in Paris?"},
        ],
        "tools": [weather],
        "temperature": 0,
    }
    response = http.post("/v1/chat/completions", json=request)
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    arguments = json.loads(call["function"]["arguments"])
    assert isinstance(arguments["city"], str)
    assert "paris" in arguments["city"].lower()


def test_speech_streams_the_first_sentence_before_the_last_is_synthesised(
    http: httpx.Client,
) -> None:
    text = " ".join(SENTENCES[:5])
    arrivals = []
    started = time.perf_counter()
    with http.stream(
        "POST", "/v1/audio/speech", json={"input": text, "sample_rate": 16_000}
    ) as response:
        assert response.status_code == 200
        assert response.headers["x-sample-rate"] == "16000"
        for chunk in response.iter_raw():
            arrivals.append((time.perf_counter() - started, len(chunk)))
    total_bytes = sum(n for _, n in arrivals)
    assert total_bytes / 2 / 16_000 > 5, "five sentences of speech"
    assert arrivals[0][0] < arrivals[-1][0] / 2, arrivals[:3]


def test_mulaw_8khz_speech_has_the_duration_of_the_pcm_version(http: httpx.Client) -> None:
    text = SENTENCES[1]
    with wave.open(io.BytesIO(_speech_wav(http, text, 8_000))) as reader:
        expected = reader.getnframes() / reader.getframerate()
    response = http.post(
        "/v1/audio/speech", json={"input": text, "response_format": "mulaw", "sample_rate": 8000}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/basic"
    decoded = mulaw_decode(response.content)
    assert decoded.size / 8000 == pytest.approx(expected, rel=0.05)


def _embed(http: httpx.Client, texts: list[str], **extra: Any) -> np.ndarray:
    response = http.post("/v1/embeddings", json={"input": texts, **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    assert body["model"] == "all-MiniLM-L6-v2"
    assert body["usage"]["prompt_tokens"] >= len(texts)
    assert [d["index"] for d in body["data"]] == list(range(len(texts)))
    if extra.get("encoding_format") == "base64":
        rows = [np.frombuffer(base64.b64decode(d["embedding"]), "<f4") for d in body["data"]]
    else:
        rows = [np.asarray(d["embedding"], np.float32) for d in body["data"]]
    return np.stack(rows)


PARAPHRASES = [
    (
        "I would like to book a table for two tonight.",
        "Can I reserve a table for two this evening?",
    ),
    ("What time do you open on Saturday?", "When are you open at the weekend?"),
    ("My order arrived damaged.", "The package I received was broken."),
    ("How do I reset my password?", "I forgot my password and cannot log in."),
]


def test_paraphrases_embed_closer_than_unrelated_sentences(http: httpx.Client) -> None:
    texts = [t for pair in PARAPHRASES for t in pair]
    vectors = _embed(http, texts)
    assert vectors.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similarity = vectors @ vectors.T
    for i in range(len(PARAPHRASES)):
        paraphrase = similarity[2 * i, 2 * i + 1]
        unrelated = [similarity[2 * i, 2 * j + 1] for j in range(len(PARAPHRASES)) if j != i]
        assert paraphrase > max(unrelated) + 0.1, (PARAPHRASES[i], paraphrase, unrelated)
    as_base64 = _embed(http, texts[:2], encoding_format="base64")
    assert np.allclose(as_base64, vectors[:2], atol=1e-6)


def _wav_bytes(seconds: float, rate: int = 16_000) -> bytes:
    return encode_wav(bytes(2 * int(seconds * rate)), rate)


def _raw_wav(rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\x00\x00" * rate)
    return buffer.getvalue()


BAD_REQUESTS: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("chat-empty-body", "/v1/chat/completions", {"content": b""}, 400, "empty_body"),
    (
        "chat-malformed-json",
        "/v1/chat/completions",
        {"content": b'{"messages": [}'},
        400,
        "invalid_json",
    ),
    (
        "chat-no-messages",
        "/v1/chat/completions",
        {"json": {"messages": []}},
        400,
        "invalid_request",
    ),
    (
        "chat-bad-role",
        "/v1/chat/completions",
        {"json": {"messages": [{"role": "robot", "content": "x"}]}},
        400,
        "invalid_request",
    ),
    (
        "chat-unknown-model",
        "/v1/chat/completions",
        {"json": {"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}},
        404,
        "model_not_found",
    ),
    ("asr-not-multipart", "/v1/audio/transcriptions", {"content": b"hello"}, 400, "missing_file"),
    (
        "asr-empty-file",
        "/v1/audio/transcriptions",
        {"files": {"file": ("a.wav", b"", "audio/wav")}},
        400,
        "empty_file",
    ),
    (
        "asr-not-audio",
        "/v1/audio/transcriptions",
        {"files": {"file": ("a.wav", b"%PDF-1.7 " * 40, "audio/wav")}},
        400,
        "invalid_audio",
    ),
    (
        "asr-truncated-wav",
        "/v1/audio/transcriptions",
        {"files": {"file": ("a.wav", _wav_bytes(2.0)[:5000], "audio/wav")}},
        400,
        "invalid_audio",
    ),
    (
        "asr-odd-sample-rate",
        "/v1/audio/transcriptions",
        {"files": {"file": ("a.wav", _raw_wav(11_025), "audio/wav")}},
        400,
        "invalid_audio",
    ),
    (
        "asr-too-long",
        "/v1/audio/transcriptions",
        {"files": {"file": ("a.wav", _wav_bytes(31.0), "audio/wav")}},
        413,
        "audio_too_long",
    ),
    (
        "partial-bad-state",
        "/v1/audio/transcriptions/partial",
        {"files": {"file": ("a.wav", _wav_bytes(1.0), "audio/wav")}, "data": {"state": "{"}},
        400,
        "invalid_state",
    ),
    ("tts-empty-input", "/v1/audio/speech", {"json": {"input": ""}}, 400, "invalid_request"),
    ("tts-too-long", "/v1/audio/speech", {"json": {"input": "word " * 500}}, 400, "input_too_long"),
    (
        "tts-odd-rate",
        "/v1/audio/speech",
        {"json": {"input": "Hello.", "sample_rate": 12_345}},
        400,
        "unsupported_sample_rate",
    ),
    (
        "tts-bad-format",
        "/v1/audio/speech",
        {"json": {"input": "Hello.", "response_format": "mp3"}},
        400,
        "invalid_request",
    ),
    ("embed-empty-body", "/v1/embeddings", {"content": b""}, 400, "empty_body"),
    ("embed-no-input", "/v1/embeddings", {"json": {"input": []}}, 400, "invalid_request"),
    ("embed-blank-input", "/v1/embeddings", {"json": {"input": ["ok", " "]}}, 400, "empty_input"),
    ("embed-token-ids", "/v1/embeddings", {"json": {"input": [[1, 2]]}}, 400, "invalid_request"),
    (
        "embed-too-long",
        "/v1/embeddings",
        {"json": {"input": "word " * 10_000}},
        400,
        "input_too_long",
    ),
    (
        "embed-unknown-model",
        "/v1/embeddings",
        {"json": {"input": "x", "model": "text-embedding-3-large"}},
        404,
        "model_not_found",
    ),
]


@pytest.mark.parametrize(
    ("case", "path", "request_kwargs", "status", "code"),
    BAD_REQUESTS,
    ids=[b[0] for b in BAD_REQUESTS],
)
def test_bad_input_gets_a_4xx_json_error_and_the_next_request_succeeds(
    http: httpx.Client, case: str, path: str, request_kwargs: dict[str, Any], status: int, code: str
) -> None:
    response = http.post(path, **request_kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    healthy = http.post("/v1/audio/speech", json={"input": "Still here.", "response_format": "wav"})
    assert healthy.status_code == 200
    assert http.get("/healthz").json()["status"] == "ok"


def test_the_openai_compatible_engine_talks_to_a_real_openai_compatible_server(
    base_url: str,
) -> None:
    """Our remote-LLM client against our own model plane: both ends of the protocol are real."""
    spec = LlmSpec(
        provider="openai-compatible",
        model="smollm2-135m-instruct",
        endpoint=LlmEndpoint(url=f"{base_url}/v1", timeout_ms=30_000),
    )
    engine = OpenAICompatibleEngine(spec)
    events = list(
        engine.stream_chat([{"role": "user", "content": "Say hello to me."}], max_tokens=20)
    )
    assert sum(isinstance(e, ReplyText) for e in events) >= 3
    assert isinstance(events[-1], ReplyDone)
    weather = ToolDefinition(
        "get_weather",
        "Get the current weather for a city",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    question: list[ChatMessage] = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]
    events = list(engine.stream_chat(question, [weather], temperature=0.0))
    call = next(e for e in events if isinstance(e, ToolRequest))
    assert call.name == "get_weather"
    assert "paris" in json.loads(call.arguments)["city"].lower()
    assert isinstance(events[-1], ReplyDone)
    assert events[-1].reason == "tool_calls"
