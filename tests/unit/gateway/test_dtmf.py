"""Keypad keys into caller turns: `callPolicy.dtmf`'s rules, clock-free."""

from __future__ import annotations

import pytest

from switchboard_gateway.turns.dtmf import MAX_KEYS, DtmfCollector, DtmfRules, pressed_text

pytestmark = pytest.mark.unit


def test_the_finish_key_ends_the_turn_at_once_and_is_part_of_it() -> None:
    keys = DtmfCollector(DtmfRules(finish_on_key="#"))

    assert keys.press("1", 0.0) == []
    assert keys.press("2", 0.5) == []
    assert keys.press("3#", 1.0) == ["123#"]
    assert keys.due is None, "nothing is left to time out"


def test_max_digits_ends_the_turn_on_the_last_digit() -> None:
    keys = DtmfCollector(DtmfRules(max_digits=4, finish_on_key=None))

    assert keys.press("12", 0.0) == []
    assert keys.press("34", 0.2) == ["1234"]
    assert keys.pending == ""


def test_one_event_with_more_keys_than_max_digits_makes_several_turns() -> None:
    keys = DtmfCollector(DtmfRules(max_digits=1))

    assert keys.press("12", 0.0) == ["1", "2"]


def test_keys_without_a_finish_end_their_turn_after_the_inter_digit_timeout() -> None:
    keys = DtmfCollector(DtmfRules(finish_on_key="#", inter_digit_timeout_s=2.0))

    keys.press("4", 10.0)
    keys.press("2", 11.5)
    assert keys.due == pytest.approx(13.5), "each key restarts the timeout"
    assert keys.expire(13.4) is None
    assert keys.expire(13.5) == "42"
    assert keys.due is None
    assert keys.expire(20.0) is None


def test_the_star_key_can_be_the_finish_key_and_hash_is_then_an_ordinary_key() -> None:
    keys = DtmfCollector(DtmfRules(finish_on_key="*"))

    assert keys.press("#1", 0.0) == []
    assert keys.press("*", 0.1) == ["#1*"]


def test_a_key_that_is_not_dtmf_is_refused() -> None:
    with pytest.raises(ValueError, match="not a DTMF key"):
        DtmfCollector(DtmfRules()).press("1x", 0.0)


def test_the_turn_says_each_key_that_was_pressed() -> None:
    assert pressed_text("123#") == "The caller pressed 1 2 3 #."


def test_keys_pressed_without_end_make_turns_of_at_most_max_keys() -> None:
    keys = DtmfCollector(DtmfRules(finish_on_key=None))

    turns = keys.press("1" * (MAX_KEYS * 2 + 3), 0.0)

    assert turns == ["1" * MAX_KEYS] * 2
    assert keys.pending == "111"
