"""jambonz's documented messages read and written as documented; bad ones are protocol errors."""

from __future__ import annotations

import json

import pytest

from switchboard_gateway.events import CallerDtmf, ProtocolError, TelephonyCall
from switchboard_gateway.transports.jambonz import protocol
from tests.telephony.jambonz_peer import fixture

pytestmark = pytest.mark.unit


def test_the_documented_session_new_gives_the_call_its_numbers_and_sid() -> None:
    message = protocol.read_app_message(json.dumps(fixture("session_new.json")))
    assert message.type == "session:new"
    assert message.msgid == "auuHioXGktYh2ZFYxf3hAA"
    assert protocol.telephony_of(message) == TelephonyCall(
        provider="jambonz",
        call_sid="9fb35c28-9688-4531-943c-e280b04f3adf",
        from_number="+15083084809",
        to_number="+15083728299",
        direction="inbound",
        caller_name="",
    )


def test_the_caller_name_is_kept_when_the_carrier_sends_one() -> None:
    body = fixture("session_new.json")
    body["data"]["caller_name"] = "Jane Doe"
    message = protocol.read_app_message(json.dumps(body))
    assert protocol.telephony_of(message).caller_name == "Jane Doe"


def test_the_ack_has_the_documented_shape_with_answer_then_a_bidirectional_listen() -> None:
    verbs = protocol.answer_and_listen("wss://gw.example/v1/jambonz/_listen/t", 16000, "a/b")
    ack = json.loads(protocol.ack("auuHioXGktYh2ZFYxf3hAA", verbs))
    documented = fixture("ack.json")
    assert set(ack) == set(documented)
    assert ack["type"] == "ack"
    assert [v["verb"] for v in ack["data"]] == ["answer", "listen"]
    listen = ack["data"][1]
    assert listen["url"] == "wss://gw.example/v1/jambonz/_listen/t"
    assert listen["sampleRate"] == 16000
    assert listen["mixType"] == "mono"
    assert listen["passDtmf"] is True
    assert listen["bidirectionalAudio"] == {"enabled": True, "streaming": True, "sampleRate": 16000}


def test_a_verb_hook_ack_carries_no_verbs() -> None:
    hook = protocol.read_app_message(json.dumps(fixture("verb_hook.json")))
    assert json.loads(protocol.ack(hook.msgid)) == {"type": "ack", "msgid": hook.msgid}


@pytest.mark.parametrize(
    ("target", "dial_target"),
    [
        ("+15083084809", {"type": "phone", "number": "+15083084809"}),
        ("sip:desk@pbx.example.com", {"type": "sip", "sipUri": "sip:desk@pbx.example.com"}),
        ("sips:desk@pbx.example.com", {"type": "sip", "sipUri": "sips:desk@pbx.example.com"}),
    ],
)
def test_a_transfer_is_a_redirect_command_to_a_dial(
    target: str, dial_target: dict[str, str]
) -> None:
    command = json.loads(protocol.redirect(protocol.dial_verbs(target)))
    assert command == {
        "type": "command",
        "command": "redirect",
        "queueCommand": False,
        "data": [{"verb": "dial", "target": [dial_target]}],
    }


@pytest.mark.parametrize("target", ["15083084809", "tel:+1555", "sip:a b@c", "https://x"])
def test_a_target_that_is_neither_e164_nor_sip_is_refused(target: str) -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        protocol.dial_verbs(target)


def test_a_hangup_is_a_redirect_to_the_hangup_verb() -> None:
    command = json.loads(protocol.redirect(protocol.hangup_verbs()))
    assert command["command"] == "redirect"
    assert command["data"] == [{"verb": "hangup"}]


def test_the_documented_dtmf_frame_is_a_caller_dtmf() -> None:
    assert protocol.read_listen_text(json.dumps(fixture("listen_dtmf.json"))) == CallerDtmf("5")


def test_kill_audio_is_the_documented_message() -> None:
    assert json.loads(protocol.KILL_AUDIO) == fixture("kill_audio.json")


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("{nope", "malformed JSON"),
        ("[1]", "JSON object"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply|over"),
        ('{"msgid": "x"}', "without a type"),
        ("x" * (protocol.MAX_TEXT_BYTES + 1), "over"),
    ],
)
def test_unreadable_application_messages_are_protocol_errors(raw: str, detail: str) -> None:
    with pytest.raises(ProtocolError, match=detail):
        protocol.read_app_message(raw)


def test_a_session_new_without_a_call_sid_is_a_protocol_error() -> None:
    message = protocol.read_app_message('{"type": "session:new", "msgid": "m", "data": {}}')
    with pytest.raises(ProtocolError, match="call_sid"):
        protocol.telephony_of(message)


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ('{"event": "dtmf", "dtmf": "x"}', "valid digits"),
        ('{"event": "dtmf"}', "valid digits"),
        ('{"type": "playDone"}', "unexpected listen message"),
        ("nope", "malformed JSON"),
    ],
)
def test_unexpected_listen_text_is_a_protocol_error(raw: str, detail: str) -> None:
    with pytest.raises(ProtocolError, match=detail):
        protocol.read_listen_text(raw)


def test_listen_metadata_is_read_and_audio_first_is_refused() -> None:
    start = protocol.read_listen_start('{"sampleRate": 8000, "mixType": "mono", "call_sid": "c"}')
    assert (start.call_sid, start.sample_rate, start.mix_type) == ("c", 8000, "mono")
    with pytest.raises(ProtocolError, match="audio before"):
        protocol.read_listen_start(b"\x00\x00")
    with pytest.raises(ProtocolError, match="sampleRate"):
        protocol.read_listen_start('{"mixType": "mono"}')


def test_audio_frames_must_be_whole_samples_within_the_limit() -> None:
    assert protocol.check_audio(b"\x01\x00" * 160) == b"\x01\x00" * 160
    with pytest.raises(ProtocolError, match="whole L16 samples"):
        protocol.check_audio(b"\x00" * 321)
    with pytest.raises(ProtocolError, match="over"):
        protocol.check_audio(b"\x00" * (protocol.MAX_AUDIO_BYTES + 2))
