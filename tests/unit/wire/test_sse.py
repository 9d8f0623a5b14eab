"""The one OpenAI chat-stream decoder: framing, chunks, tool calls, [DONE], malformed chunks."""

from __future__ import annotations

import json

import pytest

from switchboard_wire.chat import ReplyDone, ReplyEvent, ReplyText, ToolRequest
from switchboard_wire.completions import CompletionEncoder
from switchboard_wire.sse import ChatStreamDecoder, MalformedChunkError, SseParser, parse_chunk

pytestmark = pytest.mark.unit


def _chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> str:
    body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return f"data: {json.dumps(body)}\n\n"


def _decode(*pieces: str) -> list[ReplyEvent]:
    decoder = ChatStreamDecoder()
    events = [event for piece in pieces for event in decoder.feed(piece)]
    return events + decoder.finish()


HELLO = _chunk({"role": "assistant"}) + _chunk({"content": "Hel"}) + _chunk({"content": "lo"})
DONE = "data: [DONE]\n\n"


def test_text_streams_as_it_comes_and_the_end_says_why() -> None:
    stream = HELLO + _chunk({}, "stop") + DONE
    assert _decode(stream) == [ReplyText("Hel"), ReplyText("lo"), ReplyDone("stop", 2)]


def test_text_arrives_before_the_stream_ends() -> None:
    decoder = ChatStreamDecoder()
    assert list(decoder.feed(_chunk({"content": "Hi"}))) == [ReplyText("Hi")]
    assert not decoder.done


@pytest.mark.parametrize("size", [1, 2, 3, 7, 50])
def test_any_split_of_the_text_decodes_the_same(size: int) -> None:
    stream = (HELLO + _chunk({}, "length") + DONE).replace("\n", "\r\n")
    pieces = [stream[i : i + size] for i in range(0, len(stream), size)]
    assert _decode(*pieces) == [ReplyText("Hel"), ReplyText("lo"), ReplyDone("length", 2)]


def test_tool_call_fragments_are_joined_per_index_and_come_whole_at_the_end() -> None:
    first = {"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": '{"ci'}}
    second = {"index": 1, "id": "c2", "function": {"name": "get_time", "arguments": "{}"}}
    rest = {"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}
    stream = (
        _chunk({"tool_calls": [first]})
        + _chunk({"tool_calls": [second, rest]})
        + _chunk({}, "tool_calls")
        + DONE
    )
    assert _decode(stream) == [
        ToolRequest("c1", "get_weather", '{"city": "Oslo"}'),
        ToolRequest("c2", "get_time", "{}"),
        ReplyDone("tool_calls", 0),
    ]


def test_a_tool_call_without_an_id_gets_one_and_tool_calls_decide_the_reason() -> None:
    piece = {"function": {"name": "end_call", "arguments": "{}"}}
    events = _decode(_chunk({"tool_calls": [piece]}, "stop") + DONE)
    assert events == [ToolRequest("call_0", "end_call", "{}"), ReplyDone("tool_calls", 0)]


def test_done_ends_the_stream_and_what_follows_is_ignored() -> None:
    decoder = ChatStreamDecoder()
    events = list(decoder.feed(_chunk({"content": "a"}) + DONE + "data: {nope\n\n"))
    assert decoder.done
    assert events == [ReplyText("a")]
    assert list(decoder.feed(_chunk({"content": "b"}))) == []
    assert decoder.finish() == [ReplyDone("stop", 1)]


def test_a_stream_without_done_or_a_last_blank_line_still_ends() -> None:
    assert _decode('data: {"choices": [{"delta": {"content": "x"}}]}') == [
        ReplyText("x"),
        ReplyDone("stop", 1),
    ]


def test_reported_usage_wins_over_counted_chunks_and_usage_only_chunks_are_fine() -> None:
    usage = 'data: {"choices": [], "usage": {"completion_tokens": 9}}\n\n'
    assert _decode(HELLO + usage + DONE)[-1] == ReplyDone("stop", 9)


def test_missing_optional_fields_are_not_malformed() -> None:
    assert parse_chunk('{"choices": [{}]}').content == ""
    assert parse_chunk('{"choices": [{"delta": {"content": null}}]}').content == ""
    assert parse_chunk('{"choices": [{"delta": {}, "finish_reason": null}]}').finish_reason is None


def test_unknown_finish_reasons_are_a_normal_stop() -> None:
    assert _decode(_chunk({}, "eos") + DONE) == [ReplyDone("stop", 0)]
    assert _decode(_chunk({}, "content_filter") + DONE) == [ReplyDone("content_filter", 0)]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("{nope", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"id": "x"}', "no `choices` list"),
        ('{"choices": ["x"]}', "choice is not an object"),
        ('{"choices": [{"delta": "x"}]}', "delta is not an object"),
        ('{"choices": [{"delta": {"content": 3}}]}', "`content` is not text"),
        ('{"choices": [{"delta": {}, "finish_reason": 1}]}', "`finish_reason` is not text"),
        ('{"choices": [{"delta": {"tool_calls": {}}}]}', "`tool_calls` is not a list"),
        ('{"choices": [{"delta": {"tool_calls": [{"index": "0"}]}}]}', "`index`"),
        ('{"choices": [{"delta": {"tool_calls": [{"function": {"arguments": 1}}]}}]}', "arguments"),
        ('{"error": {"message": "overloaded"}}', "reported an error: overloaded"),
    ],
)
def test_a_malformed_chunk_is_an_error_naming_the_chunk(data: str, problem: str) -> None:
    events = ChatStreamDecoder().feed(_chunk({"content": "before"}) + f"data: {data}\n\n")
    assert next(events) == ReplyText("before"), "text before the malformed chunk comes out"
    with pytest.raises(MalformedChunkError, match=problem) as raised:
        next(events)
    assert raised.value.chunk == data
    assert data[:20] in str(raised.value)


def test_sse_framing_joins_data_lines_and_ignores_comments_and_other_fields() -> None:
    parser = SseParser()
    text = ": keep-alive\nevent: message\nid: 7\ndata: a\ndata:b\nretry: 10\n\n\n"
    assert parser.feed(text) == ["a\nb"]
    assert parser.feed("data: c") == []
    assert parser.close() == ["c"]


def test_what_the_model_plane_encodes_decodes_to_the_same_events() -> None:
    events: list[ReplyEvent] = [
        ReplyText("Let me check. "),
        ToolRequest("c1", "get_weather", '{"city": "Oslo"}'),
        ToolRequest("c2", "get_time", "{}"),
        ReplyDone("tool_calls", 12),
    ]
    encoder = CompletionEncoder("chatcmpl-1", "m")
    stream = encoder.start() + b"".join(encoder.event(e) for e in events) + encoder.end()
    assert _decode(stream.decode()) == events
    whole = CompletionEncoder("chatcmpl-1", "m").whole(events)
    choice = whole["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check. "
    assert [c["id"] for c in choice["message"]["tool_calls"]] == ["c1", "c2"]
    assert whole["usage"] == {"completion_tokens": 12}
