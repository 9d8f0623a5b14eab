"""The WebSocket codec refuses what it cannot read with a protocol error, never a crash."""

from __future__ import annotations

import pytest

from switchboard_gateway.events import CallerDtmf, CallerText, ProtocolError
from switchboard_gateway.transports.websocket.codec import inbound_from_json, start_from_json

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"type": "text", "text": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested too deeply"),
        ("{nope", "malformed JSON"),
        (b"\xff\xfe\x00", "malformed JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": 3}', "JSON object"),
    ],
)
def test_unreadable_messages_are_protocol_errors_naming_the_problem(
    raw: str | bytes, detail: str
) -> None:
    with pytest.raises(ProtocolError, match=detail):
        inbound_from_json(raw)
    with pytest.raises(ProtocolError, match=detail):
        start_from_json(raw)


def test_readable_messages_still_decode() -> None:
    assert inbound_from_json('{"type": "text", "text": "Hello"}') == CallerText("Hello")
    assert inbound_from_json('{"type": "dtmf", "digits": "12#"}') == CallerDtmf("12#")


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        ('{"type": "text", "text": "hi \\ud800 there"}', "`text`"),
        ('{"type": "dtmf", "digits": "1\\udfff"}', "`digits`"),
    ],
)
def test_a_lone_surrogate_in_text_for_the_models_is_a_protocol_error(raw: str, what: str) -> None:
    # It parses, but the LLM request's body could not be encoded: the call failed inside.
    with pytest.raises(ProtocolError, match=f"{what} holds a lone UTF-16 surrogate"):
        inbound_from_json(raw)


def test_a_lone_surrogate_in_a_variable_is_a_protocol_error() -> None:
    raw = '{"type": "start", "agent": "a/b", "variables": {"name": "\\ud83d"}}'
    with pytest.raises(ProtocolError, match="variables holds a lone UTF-16 surrogate"):
        start_from_json(raw)
    paired = '{"type": "start", "agent": "a/b", "variables": {"name": "\\ud83d\\ude00"}}'
    assert start_from_json(paired).variables == {"name": "\U0001f600"}
