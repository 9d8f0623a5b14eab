"""Constrained tool calling: the choice schema, message conversion and the streaming decoder."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard_serve.llm.base import ToolDefinition
from switchboard_serve.llm.constrained_tools import ReplyStream, choice_schema, instructions
from switchboard_serve.llm.llamacpp import to_template_messages
from switchboard_wire.chat import ChatMessage

pytestmark = pytest.mark.unit

WEATHER = ToolDefinition(
    "get_weather",
    "Get the weather",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def _feed_in_pieces(document: str, cuts: list[int]) -> tuple[str, ReplyStream]:
    stream = ReplyStream()
    points = sorted({c % (len(document) + 1) for c in cuts} | {0, len(document)})
    text = "".join(stream.feed(document[a:b]) for a, b in itertools.pairwise(points))
    return text, stream


@given(reply=st.text(max_size=80), cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_reply_text_survives_any_split_of_the_generated_json(reply: str, cuts: list[int]) -> None:
    for document in (
        json.dumps({"reply": reply}),
        json.dumps({"reply": reply}, ensure_ascii=False),
    ):
        text, stream = _feed_in_pieces(document, cuts)
        assert stream.kind == "reply"
        assert text == reply


@given(city=st.text(min_size=1, max_size=30), cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_a_tool_call_streams_no_text_and_parses_at_the_end(city: str, cuts: list[int]) -> None:
    document = json.dumps({"tool": "get_weather", "arguments": {"city": city}})
    text, stream = _feed_in_pieces(document, cuts)
    assert text == ""
    assert stream.kind == "tool"
    name, arguments = stream.tool_call()
    assert name == "get_weather"
    assert json.loads(arguments) == {"city": city}


def test_whitespace_between_key_and_value_may_arrive_late() -> None:
    stream = ReplyStream()
    assert stream.feed('{ "reply" :') == ""
    assert stream.feed("  ") == ""
    assert stream.feed(' "Hel') == "Hel"
    assert stream.feed('lo"}') == "lo"
    assert stream.feed(" trailing") == ""


def test_choice_schema_puts_the_tool_name_first_and_allows_a_reply() -> None:
    schema = choice_schema([WEATHER])
    call, reply = schema["anyOf"]
    assert list(call["properties"]) == ["tool", "arguments"], "key order is the output order"
    assert call["properties"]["tool"] == {"const": "get_weather"}
    assert call["properties"]["arguments"] == WEATHER.parameters
    assert reply["required"] == ["reply"]
    assert "get_weather" in instructions([WEATHER])


def test_history_with_tool_calls_becomes_plain_template_turns() -> None:
    messages: list[ChatMessage] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"sky": "sunny"}'},
        {"role": "assistant", "content": "It is sunny."},
    ]
    converted = to_template_messages(messages, [WEATHER])
    assert [m["role"] for m in converted] == ["system", "user", "assistant", "user", "assistant"]
    assert converted[0]["content"].startswith("Be brief.\n\nYou can call these tools")
    assert json.loads(converted[2]["content"]) == {
        "tool": "get_weather",
        "arguments": {"city": "Paris"},
    }
    assert converted[3]["content"] == 'Result of get_weather: {"sky": "sunny"}'
    assert json.loads(converted[4]["content"]) == {"reply": "It is sunny."}


def test_without_tools_messages_pass_through() -> None:
    messages: list[ChatMessage] = [{"role": "user", "content": "Hi"}]
    assert to_template_messages(messages, []) == [{"role": "user", "content": "Hi"}]
