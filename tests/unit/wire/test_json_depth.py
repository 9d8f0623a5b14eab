"""JSON nested beyond reason is refused by counting, before any parser recurses into it."""

from __future__ import annotations

import pytest

from switchboard_gateway.events import ProtocolError
from switchboard_gateway.transports.websocket.codec import inbound_from_json
from switchboard_wire.json_depth import MAX_JSON_DEPTH, too_deep

pytestmark = pytest.mark.unit


def test_messages_of_ours_are_not_too_deep() -> None:
    start = '{"type":"start","agent":"a","variables":{"name":"[{x}]"},"inputFormat":{"rate":16000}}'
    assert not too_deep(start)
    assert not too_deep(start.encode())


def test_nesting_one_past_the_limit_is_too_deep_and_at_the_limit_is_not() -> None:
    assert not too_deep("[" * MAX_JSON_DEPTH + "1" + "]" * MAX_JSON_DEPTH)
    assert too_deep("[" * (MAX_JSON_DEPTH + 1) + "1" + "]" * (MAX_JSON_DEPTH + 1))
    assert too_deep(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)


def test_brackets_inside_strings_do_not_count() -> None:
    text = '{"type":"text","text":"' + "[{" * 500 + '\\"' + "[" * 10 + '"}'
    assert not too_deep(text)


def test_the_websocket_codec_refuses_deep_json_as_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="nested too deeply"):
        inbound_from_json("[" * 100_000 + "]" * 100_000)
