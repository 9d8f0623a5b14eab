"""Phone-call behaviour of the call loop on virtual time: keypad turns, handoff, reported
playback, the recording notice, the outbound greeting and the phone call's prompt variables."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from switchboard_gateway.events import (
    AgentAudioEvent,
    AgentTextEvent,
    CallEndedEvent,
    ClearEvent,
    EndReason,
    StartCall,
    TelephonyCall,
    ToolCallEvent,
    TranscriptEvent,
    TransferEvent,
)
from switchboard_gateway.records.model import turns_from_history
from switchboard_gateway.testing.calls import CallResult, agent_config, run_scripted_call
from switchboard_gateway.testing.fakes import WORD_S
from switchboard_gateway.testing.script import CallScript
from switchboard_wire.chat import ReplyDone, ReplyEvent, ReplyText, ToolRequest

pytestmark = pytest.mark.unit

#: Eight words: 2.4 s of fake speech.
GREETING = "Hello and welcome, how can I help today?"
TARGET = "+15550100200"
LINE = "Transferring you to a colleague now."
PHONE = {
    "twilio": {
        "enabled": True,
        "authTokenSecretRef": {"name": "twilio", "key": "token"},
        "accountSid": "AC" + "0" * 32,
    }
}
HANDOFF = {"transferTo": TARGET, "message": LINE, "keywords": ["human", "real person"]}


def call(script: CallScript, spec: dict[str, Any] | None = None, **options: Any) -> CallResult:
    body = {"prompt": {"system": "Test.", "greeting": GREETING}, **(spec or {})}
    return asyncio.run(run_scripted_call(agent_config(**body), script, **options))


def phone_call(
    script: CallScript, spec: dict[str, Any] | None = None, **options: Any
) -> CallResult:
    return call(script, {"channels": PHONE, "handoff": HANDOFF, **(spec or {})}, **options)


def finals(result: CallResult) -> list[tuple[float, str]]:
    return [(t, e.text) for t, e in result.of(TranscriptEvent) if e.final]


def long_reply(messages: Sequence[dict[str, Any]], tools: Sequence[Any]) -> list[ReplyEvent]:
    """Six seconds of speech, in one sentence."""
    return [ReplyText(" ".join(["word"] * 20) + "."), ReplyDone("stop")]


# --- keypad ------------------------------------------------------------------------------------


def test_keys_up_to_the_finish_key_are_one_caller_turn_the_model_answers() -> None:
    script = CallScript().press(3.0, "1").press(3.2, "2").press(3.4, "3#").hangup(at=10)

    result = call(script)

    ((at, text),) = finals(result)
    assert text == "The caller pressed 1 2 3 #."
    assert at == pytest.approx(3.4, abs=0.03), "the finish key ends the turn at once"
    assert result.models.chat.requests[-1][0][-1] == {"role": "user", "content": text}
    assert any(
        "You said The caller pressed 1 2 3 #." in e.text for _, e in result.of(AgentTextEvent)
    )
    (record_turn,) = [t for t in turns_from_history(result.history, result.latencies) if t.number]
    assert record_turn.caller_text == text, "the record shows the keys as the caller's turn"


def test_keys_without_a_finish_key_become_a_turn_after_the_inter_digit_timeout() -> None:
    script = CallScript().press(3.0, "4").press(3.5, "2").hangup(at=10)

    result = call(script, {"callPolicy": {"dtmf": {"interDigitTimeoutMs": 1500}}})

    ((at, text),) = finals(result)
    assert text == "The caller pressed 4 2."
    assert at == pytest.approx(5.0, abs=0.03), "1.5 s after the last key, on the call's clock"


def test_max_digits_ends_the_turn_on_the_last_digit_without_waiting() -> None:
    script = CallScript().press(3.0, "12").press(3.1, "3").hangup(at=10)

    result = call(script, {"callPolicy": {"dtmf": {"maxDigits": 2, "finishOnKey": None}}})

    (first_at, first), (second_at, second) = finals(result)
    assert (first, second) == ("The caller pressed 1 2.", "The caller pressed 3.")
    assert first_at == pytest.approx(3.0, abs=0.03)
    assert second_at == pytest.approx(5.1, abs=0.03), "the rest waits for the timeout"


def test_a_keypad_turn_interrupts_the_agent_like_a_typed_turn() -> None:
    script = CallScript().type(at=3.0, text="tell me").press(4.5, "9#").hangup(at=14)

    result = call(script, reply=long_reply)

    ((cleared_at, _),) = result.of(ClearEvent)
    assert cleared_at == pytest.approx(4.5, abs=0.03)
    assert [m["content"] for m in result.history if m["role"] == "user"] == [
        "tell me",
        "The caller pressed 9 #.",
    ]


def test_keypad_turns_count_against_the_turn_rate() -> None:
    script = CallScript().press(3.0, "1#").press(3.5, "2#").hangup(at=10)

    result = call(script, {"callPolicy": {"limits": {"turnsPerMinute": 1, "turnBurst": 1}}})

    assert result.ended.reason is EndReason.PROTOCOL_ERROR
    assert "turnsPerMinute" in result.ended.detail


def test_keys_faster_than_a_keypad_end_the_call_before_they_make_a_turn() -> None:
    script = CallScript()
    for i in range(25):  # 25 keys in a quarter of a second: no person presses keys that fast
        script = script.press(3.0 + i * 0.01, "1")
    script = script.hangup(at=10)

    result = call(script)

    assert result.ended.reason is EndReason.PROTOCOL_ERROR
    assert "keypad keys faster than 10 a second" in result.ended.detail
    assert len(result.models.chat.requests) == 0, "no keypad turn reached the model"


def test_keys_at_a_persons_pace_are_all_taken() -> None:
    script = CallScript()
    for i in range(30):  # 30 keys at 8 a second, in three turns of nine keys and #
        script = script.press(3.0 + i * 0.125, "#" if i % 10 == 9 else str(i % 10))
    script = script.hangup(at=30)

    result = call(script)

    assert result.ended.reason is EndReason.CALLER_HANGUP
    pressed = [text for _, text in finals(result) if text.startswith("The caller pressed")]
    assert len(pressed) == 3, pressed


# --- handoff -----------------------------------------------------------------------------------


def assert_transferred_after_the_line(result: CallResult, reason: str) -> None:
    """The line is spoken whole and played, then the transfer, then the end: in that order."""
    kinds = [type(e) for _, e in result.events]
    transfer_index = kinds.index(TransferEvent)
    ((transfer_at, transfer),) = result.of(TransferEvent)
    assert transfer == TransferEvent(TARGET, reason)
    line_turns = {e.turn for _, e in result.of(AgentTextEvent) if e.text == LINE}
    (line_turn,) = line_turns
    line_frames = [(t, e) for t, e in result.of(AgentAudioEvent) if e.turn == line_turn]
    spoken_s = len(line_frames) * 0.02
    assert spoken_s >= len(LINE.split()) * WORD_S - 0.02, "the whole line was sent"
    assert transfer_at >= line_frames[0][0] + spoken_s - 0.061, "and had played by the transfer"
    assert all(
        i < transfer_index for i, e in enumerate(result.events) if isinstance(e[1], AgentAudioEvent)
    )
    assert isinstance(result.events[-1][1], CallEndedEvent)
    assert result.ended.reason is EndReason.TRANSFERRED
    assert kinds.index(CallEndedEvent) > transfer_index
    assert result.history[-1] == {"role": "assistant", "content": LINE}, "the line is recorded"


def test_a_handoff_keyword_in_the_callers_words_transfers_without_asking_the_model() -> None:
    script = CallScript().say(at=3.0, seconds=1.5, text="Can I talk to a Human, please").hangup(20)

    result = phone_call(script)

    assert result.models.chat.requests == [], "the model was never asked"
    assert_transferred_after_the_line(result, "keyword: human")
    assert result.history[-2] == {"role": "user", "content": "Can I talk to a Human, please"}
    (turn,) = [t for t in turns_from_history(result.history, result.latencies) if t.number]
    assert (turn.caller_text, turn.agent_text) == ("Can I talk to a Human, please", LINE)


def test_a_keyword_phrase_matches_whole_words_in_typed_turns_too() -> None:
    script = CallScript().type(at=3.0, text="I want a REAL person!").hangup(at=20)

    result = phone_call(script)

    assert_transferred_after_the_line(result, "keyword: real person")


def test_part_of_a_word_is_not_a_keyword() -> None:
    script = CallScript().type(at=3.0, text="I study humanity").hangup(at=10)

    result = phone_call(script)

    assert result.of(TransferEvent) == []
    assert result.ended.reason is EndReason.CALLER_HANGUP
    assert len(result.models.chat.requests) == 1


def transfer_tool(messages: Sequence[dict[str, Any]], tools: Sequence[Any]) -> list[ReplyEvent]:
    if messages[-1]["role"] == "user":
        request = ToolRequest("t1", "transfer_call", '{"reason": "billing dispute"}')
        return [ReplyText("Sure."), request, ReplyDone("tool_calls")]
    return [ReplyText("Done."), ReplyDone("stop")]


def test_the_models_transfer_call_says_the_line_then_transfers_with_its_reason() -> None:
    script = CallScript().type(at=3.0, text="my bill is wrong").hangup(at=20)

    result = phone_call(script, reply=transfer_tool)

    assert [e.name for _, e in result.of(ToolCallEvent)] == ["transfer_call"]
    assert_transferred_after_the_line(result, "billing dispute")
    assert len(result.models.chat.requests) == 1, "no second model round after the transfer"


def test_with_the_transfer_tool_off_the_model_is_not_offered_it_and_its_call_transfers_nothing() -> (
    None
):
    script = CallScript().type(at=3.0, text="my bill is wrong").hangup(at=20)
    handoff = {**HANDOFF, "transferCallTool": False}

    result = phone_call(script, {"handoff": handoff}, reply=transfer_tool)

    offered = [tool["name"] for tool in result.models.chat.requests[0][1]]
    assert "transfer_call" not in offered
    assert result.of(TransferEvent) == []
    assert result.ended.reason is EndReason.CALLER_HANGUP


def test_barge_in_during_the_handoff_line_neither_cuts_it_nor_cancels_the_transfer() -> None:
    # The line starts at about 3.8 s (after "Sure."); the caller talks over it at 4.2 s.
    script = (
        CallScript()
        .type(at=3.0, text="my bill is wrong")
        .say(at=4.2, seconds=1.5, text="hello are you there")
        .hangup(at=20)
    )

    result = phone_call(script, reply=transfer_tool)

    assert result.of(ClearEvent) == []
    assert_transferred_after_the_line(result, "billing dispute")


# --- playback reported by the transport --------------------------------------------------------


def cut_reply_heard(result: CallResult) -> str:
    """What the history keeps of the reply to the first caller turn (cut by the second)."""
    first = next(i for i, m in enumerate(result.history) if m["role"] == "user")
    reply = result.history[first + 1]
    assert reply["role"] == "assistant"
    return str(reply["content"])


def test_heard_text_on_barge_in_is_what_the_transport_reported_played() -> None:
    script = (
        CallScript()
        .type(at=3.0, text="tell me")
        .say(at=6.0, seconds=1.0, text="stop there")
        .hangup(at=14)
    )
    phone = StartCall("test/tester", reports_playback=True)

    estimated = call(script, reply=long_reply)
    reported = call(script, reply=long_reply, start=phone, played_after=1.0)

    estimated_words = cut_reply_heard(estimated).rstrip("…").split()
    reported_words = cut_reply_heard(reported).rstrip("…").split()
    first_frame_at = next(t for t, e in estimated.of(AgentAudioEvent) if e.turn == 1)
    ((cleared_at, _),) = estimated.of(ClearEvent)
    played_s = cleared_at - first_frame_at
    assert len(estimated_words) == pytest.approx(played_s / WORD_S, abs=1), "its real-time share"
    # Reports a second late: about three words (0.3 s each) fewer than the estimate.
    assert len(estimated_words) - len(reported_words) == pytest.approx(1.0 / WORD_S, abs=1)
    assert reported_words == estimated_words[: len(reported_words)]


def test_a_long_sentence_cut_halfway_keeps_the_words_that_played_not_those_sent() -> None:
    # The sentence is 6 s of speech, synthesised at once but played at real time: the words
    # heard are the played share of the whole sentence, not of the audio sent so far.
    script = CallScript().type(at=3.0, text="tell me").type(at=6.0, text="stop").hangup(at=12)

    result = call(script, reply=long_reply)

    first_frame_at = next(t for t, e in result.of(AgentAudioEvent) if e.turn == 1)
    heard = cut_reply_heard(result).rstrip("…").split()
    assert len(heard) == pytest.approx((6.0 - first_frame_at) / WORD_S, abs=1)


def test_with_playback_reports_and_none_reported_the_caller_heard_nothing() -> None:
    script = CallScript().type(at=3.0, text="tell me").type(at=5.0, text="stop").hangup(at=12)

    result = call(script, reply=long_reply, start=StartCall("test/tester", reports_playback=True))

    assert cut_reply_heard(result) == "…"


def test_reports_from_a_transport_that_does_not_declare_them_are_ignored() -> None:
    script = CallScript().type(at=3.0, text="tell me").type(at=5.0, text="stop").hangup(at=12)

    plain = call(script, reply=long_reply)
    reporting_late = call(script, reply=long_reply, played_after=1.5)

    assert cut_reply_heard(reporting_late) == cut_reply_heard(plain) != "…"


# --- recording notice, outbound greeting, phone variables --------------------------------------

NOTICE = "This call may be recorded."
RECORDED = {"callPolicy": {"recording": True, "recordingNotice": NOTICE}}


def test_the_recording_notice_is_said_before_the_greeting_and_recorded_with_it() -> None:
    result = call(CallScript().hangup(at=8), RECORDED)

    assert [e.text for _, e in result.of(AgentTextEvent)] == [NOTICE, GREETING]
    assert result.history == [{"role": "assistant", "content": f"{NOTICE} {GREETING}"}]
    (opening,) = turns_from_history(result.history, result.latencies)
    assert (opening.number, opening.agent_text) == (0, f"{NOTICE} {GREETING}")


def test_the_caller_cannot_cut_the_notice_and_is_answered_after_it() -> None:
    script = CallScript().say(at=0.3, seconds=1.0, text="hello who is this").hangup(at=10)

    result = call(script, RECORDED)

    assert result.of(ClearEvent) == []
    texts = [e.text for _, e in result.of(AgentTextEvent)]
    assert texts[0] == NOTICE
    assert GREETING not in texts, "the caller spoke first: no greeting"
    assert result.history[:2] == [
        {"role": "assistant", "content": NOTICE},
        {"role": "user", "content": "hello who is this"},
    ]


def test_no_notice_is_said_on_a_call_that_is_not_recorded() -> None:
    result = call(CallScript().hangup(at=5))

    assert [e.text for _, e in result.of(AgentTextEvent)] == [GREETING]


def phone_start(direction: str) -> StartCall:
    telephony = TelephonyCall("twilio", "CA123", "+15550001111", "+15550002222", direction)
    return StartCall("test/tester", telephony=telephony)


OUTBOUND = {
    "channels": PHONE,
    "prompt": {
        "system": "You speak with {{caller_number}} from {{agent_number}}"
        " ({{call_direction}} call {{call_sid}}).",
        "greeting": GREETING,
        "outboundGreeting": "Hi, this is the clinic calling {{caller_number}}.",
    },
}


def test_a_call_the_agent_placed_opens_with_the_outbound_greeting() -> None:
    result = call(CallScript().hangup(at=6), OUTBOUND, start=phone_start("outbound"))

    assert result.of(AgentTextEvent)[0][1].text == "Hi, this is the clinic calling +15550002222."


def test_an_inbound_phone_call_opens_with_the_greeting() -> None:
    result = call(CallScript().hangup(at=6), OUTBOUND, start=phone_start("inbound"))

    assert result.of(AgentTextEvent)[0][1].text == GREETING


def test_the_phone_calls_numbers_fill_the_prompt_the_other_party_being_the_caller() -> None:
    config = agent_config(**OUTBOUND)
    config.check()  # the phone variables are known to every template

    inbound = config.prompts({}, phone_start("inbound").telephony).system
    outbound = config.prompts({}, phone_start("outbound").telephony).system
    web = config.prompts({}).system

    assert inbound == "You speak with +15550001111 from +15550002222 (inbound call CA123)."
    assert outbound == "You speak with +15550002222 from +15550001111 (outbound call CA123)."
    assert web == "You speak with  from  ( call )."
