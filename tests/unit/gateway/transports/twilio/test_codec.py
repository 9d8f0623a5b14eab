"""Twilio Media Streams messages, parsed as the docs show them and built as Twilio reads them."""

from __future__ import annotations

import base64
import json

import pytest

from switchboard_gateway.events import ProtocolError
from switchboard_gateway.transports.twilio.codec import (
    MAX_PAYLOAD_BYTES,
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    clear_message,
    mark_message,
    media_message,
    parse_message,
)
from switchboard_gateway.transports.twilio.marks import MarkBook

pytestmark = pytest.mark.unit

FRAME = bytes(range(160))
# The shapes of the examples on Twilio's "Media Streams - WebSocket Messages" page.
CONNECTED = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
START = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "callSid": "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"FirstName": "Jane", "LastName": "Doe"},
    },
    "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
}
MEDIA = {
    "event": "media",
    "sequenceNumber": "3",
    "media": {
        "track": "inbound",
        "chunk": "1",
        "timestamp": "5",
        "payload": base64.b64encode(FRAME).decode(),
    },
    "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
}
DTMF = {
    "event": "dtmf",
    "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "sequenceNumber": "5",
    "dtmf": {"track": "inbound_track", "digit": "1"},
}
MARK = {
    "event": "mark",
    "sequenceNumber": "4",
    "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "mark": {"name": "my label"},
}
STOP = {
    "event": "stop",
    "sequenceNumber": "5",
    "stop": {
        "accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "callSid": "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    },
    "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
}


def test_each_documented_message_parses_to_its_event() -> None:
    assert parse_message(json.dumps(CONNECTED)) == Connected("Call", "1.0.0")
    start = parse_message(json.dumps(START))
    assert isinstance(start, Start)
    assert start.call_sid.startswith("CA")
    assert start.stream_sid.startswith("MZ")
    assert (start.encoding, start.sample_rate, start.channels) == ("audio/x-mulaw", 8000, 1)
    assert start.custom_parameters == {"FirstName": "Jane", "LastName": "Doe"}
    assert parse_message(json.dumps(MEDIA)) == Media("inbound", 1, 5, FRAME)
    assert parse_message(json.dumps(DTMF)) == Dtmf("inbound_track", "1")
    assert parse_message(json.dumps(MARK)) == Mark("my label")
    assert parse_message(json.dumps(STOP)) == Stop("CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX")


def _media(payload: str) -> str:
    return json.dumps({**MEDIA, "media": {**MEDIA["media"], "payload": payload}})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"event": "hello"}), "unknown event 'hello'"),
        (json.dumps({"no": "event"}), "unknown event"),
        (_media("!!!notbase64!!!"), "not valid base64"),
        (_media(base64.b64encode(bytes(100)).decode()), "not whole 20 ms"),
        (_media(base64.b64encode(bytes(MAX_PAYLOAD_BYTES + 160)).decode()), "over"),
        (_media(""), "payload"),
        (json.dumps({"event": "media"}), "without a 'media' object"),
        (json.dumps({**DTMF, "dtmf": {"digit": "12"}}), "digit"),
        (json.dumps({**MARK, "mark": {}}), "'name'"),
        (json.dumps({"event": "start", "start": {"streamSid": "MZ"}}), "mediaFormat"),
        ("x" * 40_000, "over"),
    ],
)
def test_malformed_messages_are_protocol_errors_naming_the_fault(text: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        parse_message(text)


def test_outbound_messages_are_the_documented_shapes() -> None:
    media = json.loads(media_message("MZ1", FRAME))
    assert media == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": base64.b64encode(FRAME).decode()},
    }
    assert json.loads(mark_message("MZ1", "5")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "5"},
    }
    assert json.loads(clear_message("MZ1")) == {"event": "clear", "streamSid": "MZ1"}


def test_a_mark_is_due_every_five_frames_and_at_a_flush() -> None:
    book = MarkBook()
    due = [book.frame_sent(n) for n in range(1, 8)]
    assert due == [None, None, None, None, "5", None, None]
    assert book.flush() == "7"
    assert book.flush() is None, "no frames since the last mark"


def test_echoed_marks_report_what_played_and_imply_earlier_ones() -> None:
    book = MarkBook()
    for n in range(1, 16):
        book.frame_sent(n)
    assert book.echoed("10") == 10
    assert book.echoed("5") is None, "already implied by 10"
    assert book.echoed("15") == 15
    assert book.echoed("99") is None, "never sent"


def test_marks_pending_at_a_clear_do_not_count_as_played() -> None:
    book = MarkBook()
    for n in range(1, 11):
        book.frame_sent(n)  # marks 5 and 10 pending
    assert book.echoed("5") == 5, "echoed before the clear went out: played"
    book.cleared()
    assert book.echoed("10") is None, "echoed because of the clear: not played"
    for n in range(11, 16):
        book.frame_sent(n)
    assert book.echoed("15") == 15
