"""The packaged SmolLM2 on llama.cpp: streaming, constrained tool calls, limits."""

from __future__ import annotations

import json

import pytest

from switchboard_api.pipeline import LlmSpec
from switchboard_serve.llm.base import ToolDefinition
from switchboard_serve.llm.llamacpp import LlamaCppEngine
from switchboard_serve.llm.prompt_cache import LeanLlama
from switchboard_serve.packaged import gguf_path
from switchboard_wire.chat import ChatMessage, ReplyDone, ReplyText, ToolRequest

pytestmark = pytest.mark.models

WEATHER = ToolDefinition(
    "get_weather",
    "Get the current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
SYSTEM: ChatMessage = {"role": "system", "content": "You are a helpful assistant."}


@pytest.fixture(scope="module")
def engine() -> LlamaCppEngine:
    return LlamaCppEngine(LlmSpec(), gguf_path(), threads=2)


def test_a_reply_streams_as_several_text_deltas(engine: LlamaCppEngine) -> None:
    events = list(engine.stream_chat([SYSTEM, {"role": "user", "content": "Say hello to me."}]))
    deltas = [e for e in events if isinstance(e, ReplyText)]
    finished = events[-1]
    assert isinstance(finished, ReplyDone)
    assert finished.reason in ("stop", "length")
    assert len(deltas) >= 3
    assert finished.completion_tokens >= len(deltas)
    assert "".join(d.text for d in deltas).strip()


def test_a_matching_request_yields_a_valid_tool_call(engine: LlamaCppEngine) -> None:
    question: ChatMessage = {"role": "user", "content": "What is the weather in Paris?"}
    events = list(engine.stream_chat([SYSTEM, question], [WEATHER], temperature=0.0))
    calls = [e for e in events if isinstance(e, ToolRequest)]
    assert len(calls) == 1, events
    call = calls[0]
    assert call.name == "get_weather"
    arguments = json.loads(call.arguments)
    assert set(arguments) == {"city"}
    assert isinstance(arguments["city"], str)
    assert "paris" in arguments["city"].lower()
    assert not any(isinstance(e, ReplyText) for e in events)
    assert events[-1] == ReplyDone("tool_calls", events[-1].completion_tokens)  # type: ignore[union-attr]


def test_after_a_tool_result_the_output_is_well_formed(engine: LlamaCppEngine) -> None:
    history: list[ChatMessage] = [
        SYSTEM,
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny", "celsius": 18}'},
    ]
    events = list(engine.stream_chat(history, [WEATHER], temperature=0.0))
    finished = events[-1]
    assert isinstance(finished, ReplyDone)
    if finished.reason == "tool_calls":
        call = next(e for e in events if isinstance(e, ToolRequest))
        json.loads(call.arguments)
    else:
        assert "".join(e.text for e in events if isinstance(e, ReplyText)).strip()


def test_max_tokens_ends_the_completion_with_reason_length(engine: LlamaCppEngine) -> None:
    request: ChatMessage = {"role": "user", "content": "Tell me a long story about the sea."}
    events = list(engine.stream_chat([SYSTEM, request], max_tokens=5))
    finished = events[-1]
    assert isinstance(finished, ReplyDone)
    assert finished.reason == "length"
    assert finished.completion_tokens == 5


def test_a_first_turn_after_the_warm_up_reads_only_the_callers_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The warm-up stops at the first words; a probe runs between; the call then starts."""
    evaluated: list[int] = []
    original = LeanLlama.eval

    def counting(self: LeanLlama, tokens: list[int]) -> None:
        evaluated.append(len(tokens))
        original(self, tokens)

    monkeypatch.setattr(LeanLlama, "eval", counting)
    engine = LlamaCppEngine(LlmSpec(), gguf_path(), threads=2)
    system: ChatMessage = {"role": "system", "content": "You are the receptionist. " * 30}
    warm_up = engine.stream_chat([system, {"role": "user", "content": "Hello."}])
    next(e for e in warm_up if isinstance(e, ReplyText))
    warm_up.close()  # type: ignore[attr-defined]
    list(engine.stream_chat([{"role": "user", "content": "Hi"}], max_tokens=1))  # the probe
    evaluated.clear()
    turn = engine.stream_chat([system, {"role": "user", "content": "When do you open?"}])
    next(e for e in turn if isinstance(e, ReplyText))
    prompt_tokens = evaluated[0]
    assert prompt_tokens < 30, f"the first turn read {prompt_tokens} prompt tokens again"
